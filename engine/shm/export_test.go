package shm

// SetHook makes every Store made with o call hook after each step of its
// protocols (append, chunk creation, acknowledgement, cleanup), with the
// step's name: a test stops a protocol between two steps by not
// returning from it (runtime.Goexit), or by killing its process.
func SetHook(o *Options, hook func(step string)) { o.hook = hook }

// Exported for tests.
var (
	DataStart   = dataStart
	CtlSlotsOff = ctlSlotsOff
	CtlHeadOff  = ctlHeadOff
	CtlNextOff  = ctlNextOff
	ChunkUsed   = chunkUsedOff
	CtlSize     = ctlSize
	ChunkName   = chunkName
	EntryLen    = entryLen
)
