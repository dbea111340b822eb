package atomicx_test

import "sync/atomic"

func atomicStore(p *uint64, v uint64) { atomic.StoreUint64(p, v) }
