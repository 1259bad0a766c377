// Package models holds the reference models of crashsim and the checks of
// docs/DESIGN.md section 6 that judge a state recovered after a crash against them.
//
// A Model is a sequential specification — Register, Log, KV, BlobStore,
// Queue, Set and Counter here — written as a struct of pure functions in the shape of
// porcupine.Model. Two checks use it:
//
//   - Prefix, for one client: the recovered state equals the model after
//     operations 1..k, with every operation acknowledged durable inside 1..k
//     and none not yet invoked. When the program goes on after its
//     recovery and may crash again (docs/DESIGN.md F4), Restart(k) is the
//     checker of its next epoch: operations 1..k, which the recovery
//     returned, all durable, then the operations invoked after it.
//   - CheckDurable, for concurrent clients: durable linearizability, and with
//     buffered set, buffered durable linearizability, decided by porcupine;
//     CheckLinearizable, the history alone (a run that did not crash).
//
// A verdict is not an error: a violation is what the laboratory looks for.
// This package imports nothing else of crashsim.
//
// # Usage
//
//	p := models.NewPrefix(models.Log())
//	p.Invoke(models.LogAppend{Record: []byte("a")}) // as the workload calls Append
//	p.DurableAll()                                  // as its Sync returns
//	...
//	v := p.Check(recoveredRecords)                  // after recovery of a crash image
//	fmt.Println(v)                                  // ok: state after 1 of 1 operations (1 durable)
//
// For concurrent clients, a history of calls and returns:
//
//	h := models.NewHistory()
//	id := h.Call(client, models.KVPut{Key: "k", Value: "v"})
//	h.Return(id, nil)
//	lv := models.CheckDurable(models.KV(), h, recoveredMap, false, time.Second)
//	fmt.Println(lv.Result)                          // Ok
//
// Package sim checks the prefix property of every crash state it explores,
// or, for a scenario whose Check asks for it, judges the clients' History
// with CheckLinearizable and CheckDurable (docs/DESIGN.md section 6).
//
// # Implementation notes
//
// Prefix computes the model state after each operation as it is invoked and
// keeps the states from a little below the durable mark to the last invoked
// operation, so a check costs at most one comparison per allowed k and memory
// stays bounded however long the workload. The states kept below the mark
// only serve the diagnosis "acknowledged operations lost".
//
// CheckDurable turns the crash into one more operation for porcupine: an
// observation whose output is the recovered state, called after every
// operation returned and never returning. Operations pending at the crash get
// an unknown output and never return, so porcupine may place them before the
// observation (they took effect) or after it (they did not). For buffered
// durable linearizability the observation is called at the call of the last
// completed sync instead, which lets the operations after it fall on either
// side, as a suffix, by real-time order. Linearizability itself is porcupine's;
// it is not re-implemented here.
package models
