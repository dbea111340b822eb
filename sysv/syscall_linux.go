package sysv

// Prototypes for ../gen, which writes zsyscall_linux.go from them. These
// are the system calls exactly as the kernel takes them; raw.go exports
// them with Go types and the per-architecture quirks applied.

//sys	msgget(key int32, msgflg int) (id int, err error) = unix.SYS_MSGGET
//sys	msgsnd(msqid int, msgp unsafe.Pointer, msgsz uintptr, msgflg int) (err error) = unix.SYS_MSGSND
//sys	msgrcv(msqid int, msgp unsafe.Pointer, msgsz uintptr, msgtyp int, msgflg int) (n int, err error) = unix.SYS_MSGRCV
//sys	msgctl(msqid int, cmd int, buf unsafe.Pointer) (r int, err error) = unix.SYS_MSGCTL
//sys	semget(key int32, nsems int, semflg int) (id int, err error) = unix.SYS_SEMGET
//sys	semtimedop(semid int, sops unsafe.Pointer, nsops uintptr, timeout *abi.Timespec) (err error) = abi.SysSemtimedop
//sys	semctl(semid int, semnum int, cmd int, arg uintptr) (r int, err error) = unix.SYS_SEMCTL
//sys	shmget(key int32, size uintptr, shmflg int) (id int, err error) = unix.SYS_SHMGET
//sys	shmat(shmid int, addr uintptr, shmflg int) (ret uintptr, err error) = unix.SYS_SHMAT
//sys	shmdt(addr uintptr) (err error) = unix.SYS_SHMDT
//sys	shmctl(shmid int, cmd int, buf unsafe.Pointer) (r int, err error) = unix.SYS_SHMCTL
