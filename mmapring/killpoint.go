package mmapring

// killpointStatus is the exit status of a process stopped at a kill point
// (killpoint_on.go), the same as mmapring.h's MMR_KILLPOINT_STATUS.
const killpointStatus = 86
