! tests/fortran/test_datasets.f90 -- the Fortran module's datasets: each rank
! adds its own pairs (keys r*1000+1 .. r*1000+500, each valued by itself), a
! job maps them with a Fortran map_pair function (key mod 10, with the value
! as a count) into an output dataset, which is gathered to rank 0 and checked
! against sums computed here; then broadcast back, so every rank holds the
! ten classes. Exits non-zero (on every rank) if anything differs.
module dataset_test_maps
  use, intrinsic :: iso_c_binding
  use mpimr
  implicit none
contains
  integer(c_int) function map_class(user, key, key_len, value, value_len, out) bind(C)
    type(c_ptr), value :: user, key, value, out
    integer(c_size_t), value :: key_len, value_len
    integer(c_int64_t) :: k, v
    integer(c_int64_t), target, save :: class
    if (key_len /= 8 .or. value_len /= 8 .or. c_associated(user)) then
      map_class = 1
      return
    end if
    k = read_int64(key) ! pairs are packed: their bytes are not aligned
    v = read_int64(value)
    class = mod(k, 10_c_int64_t)
    map_class = mpimr_emit_u64(out, c_loc(class), 8_c_size_t, v)
  end function

  ! The 8-byte integer at `at`, which may sit at any address.
  integer(c_int64_t) function read_int64(at) result(n)
    type(c_ptr), intent(in) :: at
    character(kind=c_char), pointer :: bytes(:)
    call c_f_pointer(at, bytes, [8])
    n = transfer(bytes, n)
  end function
end module dataset_test_maps

program test_datasets
  use, intrinsic :: iso_c_binding
  use mpi
  use mpimr
  use dataset_test_maps
  implicit none
  type(mpimr_dataset_t) :: pairs, classes
  type(mpimr_job_t) :: job
  type(mpimr_dataset_cursor_t) :: cursor
  type(c_ptr) :: key, value
  integer(c_size_t) :: key_len, value_len
  integer(c_int64_t), target :: k, v
  integer(c_int64_t) :: got_key, got_value
  integer(c_int64_t) :: expected(0:9), seen(0:9), i, total
  integer :: rank, size, ierr, r, ok, all_ok
  integer(c_int) :: status
  type(c_funptr) :: map_fn

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, size, ierr)
  ok = 1

  call pairs%create()
  call classes%create()
  do i = rank * 1000 + 1, rank * 1000 + 500
    k = i
    v = i
    call pairs%add(c_loc(k), 8_c_size_t, c_loc(v), 8_c_size_t)
  end do
  total = pairs%global_count(MPI_COMM_WORLD) ! collective: never inside a condition that may skip it
  if (pairs%local_count() /= 500 .or. total /= 500_c_int64_t * size) ok = 0

  call job%create()
  map_fn = c_funloc(map_class) ! through a variable: no text relocation in a PIE
  call job%set_map_pair(map_fn, pairs)
  call job%use_u64_counts()
  call job%set_output_dataset(classes)
  status = job%run(MPI_COMM_WORLD)
  if (status /= MPIMR_OK) then
    write (0, '(a)') job%error_message()
    ok = 0
  end if
  call job%free()

  expected = 0
  do r = 0, size - 1
    do i = r * 1000 + 1, r * 1000 + 500
      expected(mod(i, 10_c_int64_t)) = expected(mod(i, 10_c_int64_t)) + i
    end do
  end do
  call classes%gather(MPI_COMM_WORLD, 0)
  if (rank == 0) then
    seen = -1
    do while (classes%next(cursor, key, key_len, value, value_len))
      got_key = read_int64(key)
      got_value = read_int64(value)
      if (key_len /= 8 .or. value_len /= 8 .or. got_key < 0 .or. got_key > 9) then
        ok = 0
        exit
      end if
      if (seen(got_key) /= -1) ok = 0
      seen(got_key) = got_value
    end do
    if (any(seen /= expected)) ok = 0
  else if (classes%local_count() /= 0) then
    ok = 0
  end if
  call classes%broadcast(MPI_COMM_WORLD, 0)
  if (classes%local_count() /= 10) ok = 0

  call MPI_Allreduce(ok, all_ok, 1, MPI_INTEGER, MPI_MIN, MPI_COMM_WORLD, ierr)
  call classes%free()
  call pairs%free()
  if (rank == 0) print '(a,i0,a)', 'fortran datasets: ', size, merge(' ranks, all right', ' ranks, WRONG    ', all_ok == 1)
  call MPI_Finalize(ierr)
  if (all_ok /= 1) error stop 1
end program test_datasets
