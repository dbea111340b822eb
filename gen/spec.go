package main

// This file is the generator's input: which architectures, which kernel
// structs and which constants make up ipckit's ABI layer.

const abiDir = "internal/abi"

// arch is one Linux GOARCH and how to compile a probe for it.
type arch struct {
	goarch string
	target string // clang --target
	incdir string // UAPI headers: /usr/<incdir>/include, from linux-libc-dev-<debarch>-cross
	deb    string // Debian architecture of that package
	sameAs string // lay out as this other GOARCH instead (no headers or compiler available)
	why    string // reason for sameAs
}

var arches = []arch{
	{goarch: "386", target: "i386-linux-gnu", incdir: "i686-linux-gnu", deb: "i386"},
	{goarch: "amd64", target: "x86_64-linux-gnu", incdir: "x86_64-linux-gnu", deb: "amd64"},
	{goarch: "arm", target: "armv7a-linux-gnueabihf", incdir: "arm-linux-gnueabihf", deb: "armhf"},
	{goarch: "arm64", target: "aarch64-linux-gnu", incdir: "aarch64-linux-gnu", deb: "arm64"},
	{goarch: "loong64", sameAs: "riscv64", why: "loongarch's UAPI has no ipcbuf/msgbuf/sembuf/shmbuf/siginfo overrides, so its IPC structs are the asm-generic LP64 little-endian ones, as on riscv64; Debian 12 ships no loong64 cross headers and clang 14 has no loongarch target"},
	{goarch: "mips", target: "mips-linux-gnu", incdir: "mips-linux-gnu", deb: "mips"},
	{goarch: "mips64", target: "mips64-linux-gnuabi64", incdir: "mips64-linux-gnuabi64", deb: "mips64"},
	{goarch: "mips64le", target: "mips64el-linux-gnuabi64", incdir: "mips64el-linux-gnuabi64", deb: "mips64el"},
	{goarch: "mipsle", target: "mipsel-linux-gnu", incdir: "mipsel-linux-gnu", deb: "mipsel"},
	{goarch: "ppc64", target: "powerpc64-linux-gnu", incdir: "powerpc64-linux-gnu", deb: "ppc64"},
	{goarch: "ppc64le", target: "powerpc64le-linux-gnu", incdir: "powerpc64le-linux-gnu", deb: "ppc64el"},
	{goarch: "riscv64", target: "riscv64-linux-gnu", incdir: "riscv64-linux-gnu", deb: "riscv64"},
	{goarch: "s390x", target: "s390x-linux-gnu", incdir: "s390x-linux-gnu", deb: "s390x"},
}

// ipc64Arches wire msgctl/semctl/shmctl to the kernel's sys_old_*ctl,
// which use the old 16-bit ipc_perm layout unless IPC_64 (0x100) is ORed
// into the command (CONFIG_ARCH_WANT_IPC_PARSE_VERSION and the syscall
// tables: arm's 304 msgctl sys_old_msgctl, mips n64's 69 msgctl
// sys_old_msgctl; mips o32's direct 402 msgctl is sys_msgctl). On every
// other Go architecture the commands imply IPC_64 and passing it fails
// with EINVAL (docs/ABI.md §6.2).
var ipc64Arches = map[string]bool{"arm": true, "mips64": true, "mips64le": true}

// headers are the UAPI headers the probes include.
var headers = []string{
	"linux/types.h", "linux/ipc.h", "linux/msg.h", "linux/sem.h", "linux/shm.h",
	"linux/mqueue.h", "linux/futex.h", "linux/time_types.h", "asm/siginfo.h",
}

// cstruct is a kernel struct to lay out.
type cstruct struct {
	c      string   // C type, "struct msqid64_ds"
	goName string   // Go name in internal/abi
	doc    string   // what it is
	strip  []string // C field-name prefixes to drop ("msg_")
	times  []string // Go fields holding seconds; a TimeHigh twin on 32-bit is combined
	export []string // packages that re-export it by type alias
}

var structs = []cstruct{
	{c: "struct ipc64_perm", goName: "IpcPerm", doc: "the owner and permissions of a SysV IPC object", export: []string{"sysv"}},
	{c: "struct msqid64_ds", goName: "MsqidDS", doc: "a SysV message queue's state (msgctl IPC_STAT, IPC_SET, MSG_STAT)", strip: []string{"msg_"}, times: []string{"Stime", "Rtime", "Ctime"}, export: []string{"sysv"}},
	{c: "struct semid64_ds", goName: "SemidDS", doc: "a SysV semaphore set's state (semctl IPC_STAT, IPC_SET, SEM_STAT)", strip: []string{"sem_"}, times: []string{"Otime", "Ctime"}, export: []string{"sysv"}},
	{c: "struct shmid64_ds", goName: "ShmidDS", doc: "a SysV shared-memory segment's state (shmctl IPC_STAT, IPC_SET, SHM_STAT)", strip: []string{"shm_"}, times: []string{"Atime", "Dtime", "Ctime"}, export: []string{"sysv"}},
	{c: "struct sembuf", goName: "Sembuf", doc: "one semaphore operation for semop and semtimedop", strip: []string{"sem_"}, export: []string{"sysv"}},
	{c: "struct msginfo", goName: "Msginfo", doc: "SysV message queue limits and usage (msgctl IPC_INFO, MSG_INFO)", export: []string{"sysv"}},
	{c: "struct seminfo", goName: "Seminfo", doc: "SysV semaphore limits and usage (semctl IPC_INFO, SEM_INFO)", export: []string{"sysv"}},
	{c: "struct shminfo64", goName: "Shminfo", doc: "SysV shared-memory limits (shmctl IPC_INFO)", export: []string{"sysv"}},
	{c: "struct shm_info", goName: "ShmInfo", doc: "SysV shared-memory usage (shmctl SHM_INFO)", strip: []string{"shm_"}, export: []string{"sysv"}},
	{c: "struct mq_attr", goName: "MqAttr", doc: "a POSIX message queue's attributes (mq_open, mq_getsetattr)", strip: []string{"mq_"}, export: []string{"posix"}},
	{c: "struct __kernel_timespec", goName: "Timespec", doc: "a time with 64-bit seconds on every architecture, as the _time64 and futex2 system calls take it", strip: []string{"tv_"}},
	{c: "struct __kernel_old_timespec", goName: "OldTimespec", doc: "the timespec of the classic system calls (futex, semtimedop, mq_timed*): seconds in a C long, so 32-bit on 32-bit architectures, where kernels before 5.1 have no _time64 calls", strip: []string{"tv_"}},
	{c: "struct futex_waitv", goName: "FutexWaitv", doc: "one futex for futex_waitv (Linux 5.16)"},
	{c: "struct sigevent", goName: "Sigevent", doc: "how mq_notify notifies", strip: []string{"sigev_"}, export: []string{"posix"}},
}

// constDef is a constant to extract; export names the packages that
// re-export it under the same name.
type constDef struct {
	name   string
	export []string
}

func consts(export []string, names ...string) []constDef {
	var cs []constDef
	for _, n := range names {
		cs = append(cs, constDef{n, export})
	}
	return cs
}

var constants = concat(
	consts([]string{"sysv"},
		"IPC_CREAT", "IPC_EXCL", "IPC_NOWAIT", "IPC_PRIVATE",
		"IPC_RMID", "IPC_SET", "IPC_STAT", "IPC_INFO",
		"MSG_STAT", "MSG_INFO", "MSG_STAT_ANY", "MSG_NOERROR", "MSG_EXCEPT", "MSG_COPY",
		"SEM_UNDO", "GETPID", "GETVAL", "GETALL", "GETNCNT", "GETZCNT", "SETVAL", "SETALL",
		"SEM_STAT", "SEM_INFO", "SEM_STAT_ANY", "SEMVMX", "SEMOPM", "SEMMSL",
		"SHM_RDONLY", "SHM_RND", "SHM_REMAP", "SHM_EXEC",
		"SHM_LOCK", "SHM_UNLOCK", "SHM_STAT", "SHM_INFO", "SHM_STAT_ANY",
		"SHM_HUGETLB", "SHM_NORESERVE", "SHM_HUGE_SHIFT", "SHM_HUGE_MASK", "SHM_HUGE_2MB", "SHM_HUGE_1GB",
		"SHMMIN",
	),
	consts(nil, "IPC_64",
		"FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_WAIT_BITSET", "FUTEX_WAKE_BITSET",
		"FUTEX_PRIVATE_FLAG", "FUTEX_CLOCK_REALTIME", "FUTEX_BITSET_MATCH_ANY",
		"FUTEX_WAITERS", "FUTEX_OWNER_DIED", "FUTEX_TID_MASK", "ROBUST_LIST_LIMIT",
		"FUTEX_32", "FUTEX_WAITV_MAX",
	),
	consts([]string{"posix"},
		"SIGEV_SIGNAL", "SIGEV_NONE", "SIGEV_THREAD",
		"NOTIFY_NONE", "NOTIFY_WOKENUP", "NOTIFY_REMOVED", "NOTIFY_COOKIE_LEN",
	),
)

func concat(xs ...[]constDef) []constDef {
	var out []constDef
	for _, x := range xs {
		out = append(out, x...)
	}
	return out
}

// timeSyscalls are the calls that take a timespec: on architectures where
// golang.org/x/sys/unix has SYS_<name>_TIME64 (the 32-bit ones) the
// generated SysX constant selects it, since abi.Timespec is always the
// 64-bit struct __kernel_timespec.
var timeSyscalls = []struct{ goName, sys string }{
	{"SysFutex", "SYS_FUTEX"},
	{"SysSemtimedop", "SYS_SEMTIMEDOP"},
	{"SysMqTimedsend", "SYS_MQ_TIMEDSEND"},
	{"SysMqTimedreceive", "SYS_MQ_TIMEDRECEIVE"},
}
