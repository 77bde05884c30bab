! apps/wordcount_fortran.f90 -- mpimr-wordcount-fortran: word count written
! in Fortran against the module `mpimr`, with its map and reduce functions in
! Fortran. Words are runs of bytes other than blanks and tabs; the output is
! "word<TAB>count" lines in OUTDIR/part-NNNNN, as mpimr-wordcount writes them.
! See print_help below for the usage.

module wordcount_functions
  use, intrinsic :: iso_c_binding
  use mpimr
  implicit none
  private
  public :: map_words, reduce_sum

contains

  ! Emits (word, 1) for every word of a record.
  integer(c_int) function map_words(user, record, length, out) bind(C)
    type(c_ptr), value :: user, record, out
    integer(c_size_t), value :: length
    character(kind=c_char), pointer :: text(:)
    integer(c_size_t) :: i, start
    map_words = 0
    if (length == 0) return
    call c_f_pointer(record, text, [length])
    i = 1
    do while (i <= length)
      do while (i <= length)
        if (.not. is_blank(text(i))) exit
        i = i + 1
      end do
      start = i
      do while (i <= length)
        if (is_blank(text(i))) exit
        i = i + 1
      end do
      if (i > start) then
        map_words = mpimr_emit_u64(out, c_loc(text(start)), i - start, 1_c_int64_t)
        if (map_words /= MPIMR_OK) return
      end if
    end do
    if (c_associated(user)) continue
  end function

  ! Adds a word's counts (the combiner has added most of them already).
  integer(c_int) function reduce_sum(user, key, key_len, values, out) bind(C)
    type(c_ptr), value :: user, key, values, out
    integer(c_size_t), value :: key_len
    integer(c_int64_t) :: count, total
    integer(c_int) :: status
    total = 0
    do while (mpimr_next_u64(values, count, status))
      total = total + count
    end do
    if (status /= MPIMR_OK) then
      reduce_sum = status
      return
    end if
    reduce_sum = mpimr_emit_u64(out, key, key_len, total)
    if (c_associated(user)) continue
  end function

  logical function is_blank(c)
    character(kind=c_char), intent(in) :: c
    is_blank = c == ' ' .or. c == char(9)
  end function

end module wordcount_functions

program wordcount_fortran
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: error_unit
  use mpi
  use mpimr
  use wordcount_functions
  implicit none
  type(mpimr_job_t) :: job
  character(len=4096) :: arg, output
  integer :: ierr, rank, i, inputs, exit_code
  integer(c_int) :: status
  logical :: overwrite
  type(c_funptr) :: map_function, reduce_function

  interface
    subroutine c_exit(code) bind(C, name='exit') ! leaves without "STOP" or a backtrace on stderr
      import :: c_int
      integer(c_int), value :: code
    end subroutine
  end interface

  call MPI_Init(ierr)
  ierr = mpimr_signals_catch() ! SIGINT and SIGTERM fail the running job cleanly
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call job%create()
  output = ''
  overwrite = .false.
  inputs = 0
  exit_code = 0
  i = 1
  do while (i <= command_argument_count())
    call get_command_argument(i, arg)
    select case (trim(arg))
    case ('-h', '--help')
      if (rank == 0) call print_help()
      call finish(0)
    case ('-o', '--output')
      if (i == command_argument_count()) call usage_error('-o needs a value')
      i = i + 1
      call get_command_argument(i, output)
    case ('-f', '--overwrite')
      overwrite = .true.
    case default
      if (arg(1:1) == '-') call usage_error('unknown option '//trim(arg))
      call job%add_input(trim(arg))
      inputs = inputs + 1
    end select
    i = i + 1
  end do
  if (inputs == 0) call usage_error('no INPUT files or directories given')
  if (len_trim(output) == 0) call usage_error('-o OUTDIR is required')

  call job%set_output(trim(output), overwrite)
  map_function = c_funloc(map_words)
  reduce_function = c_funloc(reduce_sum)
  call job%set_map_record(map_function)
  call job%set_reduce(reduce_function)
  call job%use_u64_counts()
  status = job%run(MPI_COMM_WORLD)
  if (status /= MPIMR_OK .and. status /= MPIMR_ERR_REMOTE) &
    write (error_unit, '(5a)') 'mpimr-wordcount-fortran: ', job%error_message(), ' (', mpimr_strerror(status), ')'
  if (status == MPIMR_ERR_MPI .or. status == MPIMR_ERR_STALLED) call MPI_Abort(MPI_COMM_WORLD, 1, ierr)
  if (status /= MPIMR_OK) exit_code = 1
  call finish(exit_code)

contains

  subroutine usage_error(why)
    character(len=*), intent(in) :: why
    if (rank == 0) write (error_unit, '(3a)') 'mpimr-wordcount-fortran: ', why, &
      new_line('a')//"Try 'mpimr-wordcount-fortran --help'."
    call finish(64)
  end subroutine

  subroutine finish(code)
    integer, intent(in) :: code
    call job%free()
    call MPI_Finalize(ierr)
    call c_exit(int(code, c_int))
  end subroutine

  subroutine print_help()
    character(len=*), parameter :: nl = new_line('a')
    write (*, '(a)') &
      'NAME'//nl// &
      '    mpimr-wordcount-fortran - count words, with map and reduce written in Fortran'//nl//nl// &
      'SYNOPSIS'//nl// &
      '    mpirun -np N mpimr-wordcount-fortran -o OUTDIR [-f] INPUT...'//nl//nl// &
      'DESCRIPTION'//nl// &
      '    The Fortran example of mpimr (src/fortran/mpimr.f90, the module mpimr).'//nl// &
      '    Counts the words of every INPUT file (directories are read'//nl// &
      '    recursively): runs of bytes other than blanks and tabs within a line.'//nl// &
      '    The map function emits (word, 1); counts are added on both sides of'//nl// &
      '    the shuffle and by a Fortran reduce function. Each rank writes'//nl// &
      '    OUTDIR/part-NNNNN with "word<TAB>count" lines in bytewise word order;'//nl// &
      '    OUTDIR/_SUCCESS marks a complete result.'//nl//nl// &
      'OPTIONS'//nl// &
      '    -o, --output DIR   the output directory (required)'//nl// &
      '    -f, --overwrite    replace the results in an existing DIR'//nl// &
      '    -h, --help         print this manual'//nl//nl// &
      'EXIT STATUS'//nl// &
      '    0 success, 1 the job failed (each rank that met the cause says why),'//nl// &
      '    64 a usage error.'
  end subroutine

end program wordcount_fortran
