! src/fortran/mpimr.f90 -- the Fortran 2003 module `mpimr` over the C API
! (iso_c_binding; the C side is include/mpimr/fortran.h).
!
!   use mpimr
!   type(mpimr_job_t) :: job
!   call job%create()
!   call job%add_input('corpus.txt')
!   call job%set_output('out')
!   call job%set_map_record(c_funloc(my_map))      ! a bind(C) function, below
!   call job%set_reduce(c_funloc(my_reduce))       ! optional
!   call job%use_u64_counts()                      ! values are counts: add them, print them
!   status = job%run(MPI_COMM_WORLD)               ! collective; MPIMR_OK on every rank or an error
!   if (status /= MPIMR_OK .and. status /= MPIMR_ERR_REMOTE) print *, job%error_message()
!   call job%free()
!
! A map function has the C signature of mpimr_map_record_fn:
!
!   integer(c_int) function my_map(user, record, length, out) bind(C)
!     type(c_ptr), value :: user, record, out
!     integer(c_size_t), value :: length
!     character(kind=c_char), pointer :: text(:)
!     call c_f_pointer(record, text, [length])       ! the record, without its newline
!     my_map = mpimr_emit_u64(out, c_loc(text(1)), length, 1_c_int64_t)
!   end function
!
! and a reduce function that of mpimr_reduce_fn (key, key_len, values, out);
! mpimr_next_u64(values, v) reads the key's counts one by one. Return 0, or
! anything else to stop the job on every rank. Counts are unsigned 64-bit
! integers in C; here they travel in integer(c_int64_t).
module mpimr
  use, intrinsic :: iso_c_binding
  implicit none
  private

  !> Status codes (mpimr/error.h).
  integer(c_int), parameter, public :: MPIMR_OK = 0, MPIMR_ERR_NOMEM = -1, MPIMR_ERR_INVAL = -2, &
    MPIMR_ERR_IO = -3, MPIMR_ERR_MPI = -4, MPIMR_ERR_EXISTS = -5, MPIMR_ERR_USER = -6, &
    MPIMR_ERR_REMOTE = -7, MPIMR_ERR_TOO_LARGE = -8, MPIMR_ERR_CORRUPT = -9, MPIMR_ERR_TOPOLOGY = -10, &
    MPIMR_ERR_STATE = -11, MPIMR_ERR_INTERRUPTED = -12, MPIMR_ERR_STALLED = -13, MPIMR_ERR_BUSY = -14, &
    MPIMR_ERR_NOT_FOUND = -15

  !> A job: describe it with the type-bound procedures, run it once, free it.
  type, public :: mpimr_job_t
    type(c_ptr) :: handle = c_null_ptr
  contains
    procedure :: create => job_create
    procedure :: add_input => job_add_input
    procedure :: set_output => job_set_output
    procedure :: set_map_record => job_set_map_record
    procedure :: set_map_pair => job_set_map_pair
    procedure :: set_output_dataset => job_set_output_dataset
    procedure :: set_reduce => job_set_reduce
    procedure :: use_u64_counts => job_use_u64_counts
    procedure :: set_memory => job_set_memory
    procedure :: run => job_run
    procedure :: error_message => job_error_message
    procedure :: free => job_free
  end type mpimr_job_t

  !> A position in a dataset for next(); starts at the first pair.
  type, public, bind(C) :: mpimr_dataset_cursor_t
    integer(c_size_t) :: offset = 0
  end type mpimr_dataset_cursor_t

  !> One rank's pairs kept in memory between jobs (mpimr/dataset.h).
  type, public :: mpimr_dataset_t
    type(c_ptr) :: handle = c_null_ptr
  contains
    procedure :: create => dataset_create
    procedure :: add => dataset_add
    procedure :: next => dataset_next
    procedure :: local_count => dataset_local_count
    procedure :: global_count => dataset_global_count
    procedure :: gather => dataset_gather
    procedure :: broadcast => dataset_broadcast
    procedure :: clear => dataset_clear
    procedure :: free => dataset_free
  end type mpimr_dataset_t

  public :: mpimr_emit, mpimr_emit_u64, mpimr_next_u64, mpimr_strerror, mpimr_signals_catch

  interface
    !> SIGINT and SIGTERM fail the running job cleanly (mpimr/signals.h); returns MPIMR_OK.
    integer(c_int) function mpimr_signals_catch() bind(C, name='mpimr_signals_catch')
      import :: c_int
    end function
    integer(c_int) function c_job_new(job) bind(C, name='mpimr_fortran_job_new')
      import :: c_int, c_ptr
      type(c_ptr), intent(out) :: job
    end function
    subroutine c_job_free(job) bind(C, name='mpimr_fortran_job_free')
      import :: c_ptr
      type(c_ptr), value :: job
    end subroutine
    integer(c_int) function c_add_input(job, path, length) bind(C, name='mpimr_fortran_add_input')
      import :: c_int, c_ptr, c_char, c_size_t
      type(c_ptr), value :: job
      character(kind=c_char), intent(in) :: path(*)
      integer(c_size_t), value :: length
    end function
    integer(c_int) function c_set_output(job, dir, length, overwrite) bind(C, name='mpimr_fortran_set_output')
      import :: c_int, c_ptr, c_char, c_size_t
      type(c_ptr), value :: job
      character(kind=c_char), intent(in) :: dir(*)
      integer(c_size_t), value :: length
      integer(c_int), value :: overwrite
    end function
    integer(c_int) function c_set_map_record(job, map, user) bind(C, name='mpimr_fortran_set_map_record')
      import :: c_int, c_ptr, c_funptr
      type(c_ptr), value :: job, user
      type(c_funptr), value :: map
    end function
    integer(c_int) function c_set_reduce(job, reduce) bind(C, name='mpimr_fortran_set_reduce')
      import :: c_int, c_ptr, c_funptr
      type(c_ptr), value :: job
      type(c_funptr), value :: reduce
    end function
    integer(c_int) function c_use_u64_counts(job) bind(C, name='mpimr_fortran_use_u64_counts')
      import :: c_int, c_ptr
      type(c_ptr), value :: job
    end function
    integer(c_int) function c_set_memory(job, bytes) bind(C, name='mpimr_fortran_set_memory')
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: job
      integer(c_int64_t), value :: bytes
    end function
    integer(c_int) function c_run(job, comm) bind(C, name='mpimr_fortran_run')
      import :: c_int, c_ptr
      type(c_ptr), value :: job
      integer(c_int), value :: comm
    end function
    integer(c_size_t) function c_error(job, text, capacity) bind(C, name='mpimr_fortran_error')
      import :: c_ptr, c_char, c_size_t
      type(c_ptr), value :: job
      character(kind=c_char), intent(out) :: text(*)
      integer(c_size_t), value :: capacity
    end function
    integer(c_int) function c_emit(out, key, key_len, value, value_len) bind(C, name='mpimr_fortran_emit')
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: out, key, value
      integer(c_size_t), value :: key_len, value_len
    end function
    integer(c_int) function c_emit_u64(out, key, key_len, value) bind(C, name='mpimr_fortran_emit_u64')
      import :: c_int, c_ptr, c_size_t, c_int64_t
      type(c_ptr), value :: out, key
      integer(c_size_t), value :: key_len
      integer(c_int64_t), value :: value
    end function
    integer(c_int) function c_next_u64(values, value) bind(C, name='mpimr_fortran_next_u64')
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: values
      integer(c_int64_t), intent(out) :: value
    end function
    integer(c_int) function c_set_map_pair(job, map, user, input) bind(C, name='mpimr_fortran_set_map_pair')
      import :: c_int, c_ptr, c_funptr
      type(c_ptr), value :: job, user, input
      type(c_funptr), value :: map
    end function
    integer(c_int) function c_set_output_dataset(job, output) bind(C, name='mpimr_fortran_set_output_dataset')
      import :: c_int, c_ptr
      type(c_ptr), value :: job, output
    end function
    integer(c_int) function c_dataset_create(dataset) bind(C, name='mpimr_dataset_create')
      import :: c_int, c_ptr
      type(c_ptr), intent(out) :: dataset
    end function
    subroutine c_dataset_free(dataset) bind(C, name='mpimr_dataset_free')
      import :: c_ptr
      type(c_ptr), value :: dataset
    end subroutine
    subroutine c_dataset_clear(dataset) bind(C, name='mpimr_dataset_clear')
      import :: c_ptr
      type(c_ptr), value :: dataset
    end subroutine
    integer(c_int) function c_dataset_add(dataset, key, key_len, value, value_len) bind(C, name='mpimr_dataset_add')
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: dataset, key, value
      integer(c_size_t), value :: key_len, value_len
    end function
    integer(c_int) function c_dataset_next(dataset, cursor, key, key_len, value, value_len) &
        bind(C, name='mpimr_dataset_next')
      import :: c_int, c_ptr, c_size_t, mpimr_dataset_cursor_t
      type(c_ptr), value :: dataset
      type(mpimr_dataset_cursor_t), intent(inout) :: cursor
      type(c_ptr), intent(out) :: key, value
      integer(c_size_t), intent(out) :: key_len, value_len
    end function
    integer(c_int64_t) function c_dataset_local_count(dataset) bind(C, name='mpimr_dataset_local_count')
      import :: c_int64_t, c_ptr
      type(c_ptr), value :: dataset
    end function
    integer(c_int) function c_dataset_global_count(dataset, comm, count) &
        bind(C, name='mpimr_fortran_dataset_global_count')
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: dataset
      integer(c_int), value :: comm
      integer(c_int64_t), intent(out) :: count
    end function
    integer(c_int) function c_dataset_gather(dataset, comm, root) bind(C, name='mpimr_fortran_dataset_gather')
      import :: c_int, c_ptr
      type(c_ptr), value :: dataset
      integer(c_int), value :: comm, root
    end function
    integer(c_int) function c_dataset_broadcast(dataset, comm, root) bind(C, name='mpimr_fortran_dataset_broadcast')
      import :: c_int, c_ptr
      type(c_ptr), value :: dataset
      integer(c_int), value :: comm, root
    end function
    type(c_ptr) function c_strerror(status) bind(C, name='mpimr_strerror')
      import :: c_ptr, c_int
      integer(c_int), value :: status
    end function
  end interface

contains

  !> Makes an empty job description (stops the program if memory is exhausted).
  subroutine job_create(self)
    class(mpimr_job_t), intent(inout) :: self
    if (c_job_new(self%handle) /= MPIMR_OK) error stop 'mpimr: out of memory creating a job'
  end subroutine

  !> Adds an input file or directory (trailing blanks are not part of the path).
  subroutine job_add_input(self, path, status)
    class(mpimr_job_t), intent(inout) :: self
    character(len=*), intent(in) :: path
    integer(c_int), intent(out), optional :: status
    integer(c_int) :: rc
    rc = c_add_input(self%handle, path, int(len_trim(path), c_size_t))
    call settle(rc, status, 'add_input')
  end subroutine

  !> Sets the output directory; `overwrite` replaces results already there.
  subroutine job_set_output(self, dir, overwrite, status)
    class(mpimr_job_t), intent(inout) :: self
    character(len=*), intent(in) :: dir
    logical, intent(in), optional :: overwrite
    integer(c_int), intent(out), optional :: status
    integer(c_int) :: flag, rc
    flag = 0
    if (present(overwrite)) then
      if (overwrite) flag = 1
    end if
    rc = c_set_output(self%handle, dir, int(len_trim(dir), c_size_t), flag)
    call settle(rc, status, 'set_output')
  end subroutine

  !> The map function (c_funloc of a bind(C) function) and, optionally, the `user` pointer it gets.
  subroutine job_set_map_record(self, map, user)
    class(mpimr_job_t), intent(inout) :: self
    type(c_funptr), intent(in) :: map
    type(c_ptr), intent(in), optional :: user
    type(c_ptr) :: pointer
    pointer = c_null_ptr
    if (present(user)) pointer = user
    call settle(c_set_map_record(self%handle, map, pointer), set_by='set_map_record')
  end subroutine

  !> Or: the map function called once per pair of `input` (mpimr_map_pair_fn: user, key, key_len,
  !> value, value_len, out), and optionally the `user` pointer.
  subroutine job_set_map_pair(self, map, input, user)
    class(mpimr_job_t), intent(inout) :: self
    type(c_funptr), intent(in) :: map
    type(mpimr_dataset_t), intent(in) :: input
    type(c_ptr), intent(in), optional :: user
    type(c_ptr) :: pointer
    pointer = c_null_ptr
    if (present(user)) pointer = user
    call settle(c_set_map_pair(self%handle, map, pointer, input%handle), set_by='set_map_pair')
  end subroutine

  !> Keeps the job's output in `output` (each rank's pairs in key order) instead of files.
  subroutine job_set_output_dataset(self, output)
    class(mpimr_job_t), intent(inout) :: self
    type(mpimr_dataset_t), intent(in) :: output
    call settle(c_set_output_dataset(self%handle, output%handle), set_by='set_output_dataset')
  end subroutine

  !> The reduce function (c_funloc of a bind(C) function).
  subroutine job_set_reduce(self, reduce)
    class(mpimr_job_t), intent(inout) :: self
    type(c_funptr), intent(in) :: reduce
    call settle(c_set_reduce(self%handle, reduce), set_by='set_reduce')
  end subroutine

  !> Values are 8-byte counts: added on both sides of the shuffle, written in decimal.
  subroutine job_use_u64_counts(self)
    class(mpimr_job_t), intent(inout) :: self
    call settle(c_use_u64_counts(self%handle), set_by='use_u64_counts')
  end subroutine

  !> The memory budget of each rank in bytes (0: the default).
  subroutine job_set_memory(self, bytes)
    class(mpimr_job_t), intent(inout) :: self
    integer(c_int64_t), intent(in) :: bytes
    call settle(c_set_memory(self%handle, bytes), set_by='set_memory')
  end subroutine

  !> Runs the job on `comm` (a communicator of `use mpi`); collective. Returns the agreed status.
  integer(c_int) function job_run(self, comm) result(status)
    class(mpimr_job_t), intent(inout) :: self
    integer, intent(in) :: comm
    status = c_run(self%handle, int(comm, c_int))
  end function

  !> This rank's error message ("rank R: input 'x': ..."), or '' if it has none.
  function job_error_message(self) result(message)
    class(mpimr_job_t), intent(in) :: self
    character(len=:), allocatable :: message
    character(kind=c_char) :: none(1)
    integer(c_size_t) :: length
    length = c_error(self%handle, none, 0_c_size_t)
    allocate (character(len=length) :: message)
    if (length > 0) length = c_error(self%handle, message, length)
  end function

  !> Frees the job (not collective); the handle becomes null.
  subroutine job_free(self)
    class(mpimr_job_t), intent(inout) :: self
    call c_job_free(self%handle)
    self%handle = c_null_ptr
  end subroutine

  !> Makes an empty dataset (stops the program if memory is exhausted).
  subroutine dataset_create(self)
    class(mpimr_dataset_t), intent(inout) :: self
    if (c_dataset_create(self%handle) /= MPIMR_OK) error stop 'mpimr: out of memory creating a dataset'
  end subroutine

  !> Appends a pair to this rank's share: `key_len` bytes at `key`, `value_len` at `value` (copied).
  subroutine dataset_add(self, key, key_len, value, value_len, status)
    class(mpimr_dataset_t), intent(inout) :: self
    type(c_ptr), intent(in) :: key, value
    integer(c_size_t), intent(in) :: key_len, value_len
    integer(c_int), intent(out), optional :: status
    call settle(c_dataset_add(self%handle, key, key_len, value, value_len), status, 'dataset add')
  end subroutine

  !> The pair at `cursor` (pointers into the dataset) and the cursor moved past it; .false. at the end.
  !> Pairs are packed, so their bytes are not aligned: read numbers with c_f_pointer to a
  !> character(kind=c_char) array and transfer(), never through an integer pointer.
  logical function dataset_next(self, cursor, key, key_len, value, value_len) result(more)
    class(mpimr_dataset_t), intent(in) :: self
    type(mpimr_dataset_cursor_t), intent(inout) :: cursor
    type(c_ptr), intent(out) :: key, value
    integer(c_size_t), intent(out) :: key_len, value_len
    more = c_dataset_next(self%handle, cursor, key, key_len, value, value_len) == 1
  end function

  !> The number of pairs on this rank.
  integer(c_int64_t) function dataset_local_count(self) result(count)
    class(mpimr_dataset_t), intent(in) :: self
    count = c_dataset_local_count(self%handle)
  end function

  !> The number of pairs on all ranks of `comm` (collective); stops the program if MPI fails.
  integer(c_int64_t) function dataset_global_count(self, comm) result(count)
    class(mpimr_dataset_t), intent(in) :: self
    integer, intent(in) :: comm
    call settle(c_dataset_global_count(self%handle, int(comm, c_int), count), set_by='dataset global_count')
  end function

  !> Moves every rank's pairs to `root`, in rank order (collective).
  subroutine dataset_gather(self, comm, root, status)
    class(mpimr_dataset_t), intent(inout) :: self
    integer, intent(in) :: comm, root
    integer(c_int), intent(out), optional :: status
    call settle(c_dataset_gather(self%handle, int(comm, c_int), int(root, c_int)), status, 'dataset gather')
  end subroutine

  !> Replaces every rank's pairs with a copy of `root`'s (collective).
  subroutine dataset_broadcast(self, comm, root, status)
    class(mpimr_dataset_t), intent(inout) :: self
    integer, intent(in) :: comm, root
    integer(c_int), intent(out), optional :: status
    call settle(c_dataset_broadcast(self%handle, int(comm, c_int), int(root, c_int)), status, &
                'dataset broadcast')
  end subroutine

  !> Removes this rank's pairs.
  subroutine dataset_clear(self)
    class(mpimr_dataset_t), intent(inout) :: self
    call c_dataset_clear(self%handle)
  end subroutine

  !> Frees the dataset; the handle becomes null.
  subroutine dataset_free(self)
    class(mpimr_dataset_t), intent(inout) :: self
    call c_dataset_free(self%handle)
    self%handle = c_null_ptr
  end subroutine

  !> Emits a pair: `key_len` bytes at `key`, `value_len` bytes at `value` (c_loc of your data).
  integer(c_int) function mpimr_emit(out, key, key_len, value, value_len) result(status)
    type(c_ptr), intent(in) :: out, key, value
    integer(c_size_t), intent(in) :: key_len, value_len
    status = c_emit(out, key, key_len, value, value_len)
  end function

  !> Emits `key_len` bytes at `key` with `value` as a count (see use_u64_counts).
  integer(c_int) function mpimr_emit_u64(out, key, key_len, value) result(status)
    type(c_ptr), intent(in) :: out, key
    integer(c_size_t), intent(in) :: key_len
    integer(c_int64_t), intent(in) :: value
    status = c_emit_u64(out, key, key_len, value)
  end function

  !> In a reduce function: the key's next count in `value`; .false. when there are no more
  !> (or a value is not 8 bytes long: check with `status`).
  logical function mpimr_next_u64(values, value, status) result(more)
    type(c_ptr), intent(in) :: values
    integer(c_int64_t), intent(out) :: value
    integer(c_int), intent(out), optional :: status
    integer(c_int) :: rc
    value = 0
    rc = c_next_u64(values, value)
    more = rc == 1
    if (present(status)) status = merge(MPIMR_OK, rc, rc >= 0)
  end function

  !> The name of a status code.
  function mpimr_strerror(status) result(text)
    integer(c_int), intent(in) :: status
    character(len=:), allocatable :: text
    character(kind=c_char), pointer :: chars(:)
    integer :: n
    call c_f_pointer(c_strerror(status), chars, [256])
    n = 0
    do while (chars(n + 1) /= c_null_char)
      n = n + 1
    end do
    allocate (character(len=n) :: text)
    text = transfer(chars(1:n), text)
  end function

  ! Hands a status back, or stops with a message when the caller did not ask for it.
  subroutine settle(rc, status, set_by)
    integer(c_int), intent(in) :: rc
    integer(c_int), intent(out), optional :: status
    character(len=*), intent(in) :: set_by
    if (present(status)) then
      status = rc
    else if (rc /= MPIMR_OK) then
      write (0, '(4a)') 'mpimr: ', set_by, ' failed: ', mpimr_strerror(rc)
      error stop 1
    end if
  end subroutine

end module mpimr
