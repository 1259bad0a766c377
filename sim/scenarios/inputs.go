package scenarios

import "encoding/gob"

func init() {
	// The model inputs of the scenarios' own types, registered with gob
	// so that a process that replays a saved execution (crashsim replay
	// --execution) decodes the history it holds without running the
	// workload (package sim registers models' own).
	for _, in := range []any{poolTx{}, shmPut{}, shmAck{}, vecCut{}, vecPush{}, vecSlot{}} {
		gob.Register(in)
	}
}
