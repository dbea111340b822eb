package shmheap

// Container transactions (see log.go): the log of a Map or Namespace lives
// in its body; Vector uses a redo record instead (vector.go).

func (c *core) ctrBegin(logOff, cap uint64) tx {
	c.store32(logOff+lState, 1)
	crashPoint()
	return beginTx(&c.mem, logOff, cap, c.arenaOff)
}

// ctrCommit commits t and finishes it: frees pendFree, clears pendAlloc.
func (c *core) ctrCommit(t *tx) error {
	crashPoint()
	c.store32(t.off+lState, 2)
	crashPoint()
	return c.ctrFinish(t.off)
}

func (c *core) ctrFinish(logOff uint64) error {
	if c.get64(logOff+lPendFree) != 0 {
		if err := c.freeInto(logOff + lPendFree); err != nil {
			return err
		}
	}
	crashPoint()
	c.put64(logOff+lPendAlloc, 0)
	crashPoint()
	c.store32(logOff+lUsed, 0)
	crashPoint()
	c.store32(logOff+lState, 0)
	return nil
}

// ctrRecover brings the log at logOff back to idle: an active transaction
// is rolled back (and its allocation freed), a committed one finished.
func (c *core) ctrRecover(logOff, cap uint64) error {
	switch st := c.load32(logOff + lState); st {
	case 0:
		if c.load32(logOff+lUsed) != 0 || c.get64(logOff+lPendAlloc) != 0 || c.get64(logOff+lPendFree) != 0 {
			return corrupt("idle container log at %d is not empty", logOff)
		}
		return nil
	case 1:
		if err := rollback(&c.mem, logOff, cap, c.arenaOff); err != nil {
			return err
		}
		c.put64(logOff+lPendFree, 0)
		if c.get64(logOff+lPendAlloc) != 0 {
			if err := c.freeInto(logOff + lPendAlloc); err != nil {
				return err
			}
		}
		c.store32(logOff+lState, 0)
		return nil
	case 2:
		return c.ctrFinish(logOff)
	default:
		return corrupt("container log at %d in state %d", logOff, st)
	}
}

// ctrAbort rolls back the active transaction t after an error and returns
// err (or the rollback's error).
func (c *core) ctrAbort(t *tx, err error) error {
	if rerr := c.ctrRecover(t.off, t.cap); rerr != nil {
		return rerr
	}
	return err
}

// repair makes the body of an object consistent after its lock's owner
// died (or left an operation unfinished).
func (c *core) repair(kind uint32, body, bodyLen, elem, elem2 uint64) error {
	switch kind {
	case kindValue:
		return c.repairData(body, elem, 1)
	case kindArray:
		return c.repairData(body, elem, elem2)
	case kindVector:
		return c.repairVector(body, elem)
	case kindMap:
		return c.ctrRecover(body+mLog, bodyLen-mLog-logHdrSize)
	case kindNamespace:
		return c.ctrRecover(body+nsLog, bodyLen-nsLog-logHdrSize)
	}
	return corrupt("object of unknown kind %d", kind)
}

// references lists the words of an object's body that hold blocks it
// owns, for reclaim.
func (c *core) references(kind uint32, body, bodyLen, elem, elem2 uint64) []uint64 {
	var refs []uint64
	switch kind {
	case kindVector:
		for k := uint64(0); k < vecMaxChunks; k++ {
			refs = append(refs, body+vecChunks+8*k)
		}
	case kindMap:
		refs = append(refs, body+mTab+tTab)
	case kindNamespace:
		if tb, err := c.loadTable(body+nsTab, nsSlot); err == nil {
			for i := uint64(0); i < tb.cap; i++ {
				s := tb.at(i)
				if c.get64(s)&tagFull != 0 {
					refs = append(refs, s+8)
				}
			}
		}
		refs = append(refs, body+nsTab+tTab)
	}
	return refs
}
