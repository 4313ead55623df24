package runlock_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/orthotune/orthotune/internal/runlock"
)

func Example() {
	dir, _ := os.MkdirTemp("", "run")
	defer os.RemoveAll(dir)

	lock, err := runlock.Acquire(dir)
	if err != nil {
		panic(err)
	}
	_, err = runlock.Acquire(dir) // a second writer is refused
	fmt.Println(errors.Is(err, runlock.ErrBusy))
	lock.Release()
	holder, _ := runlock.Check(dir)
	fmt.Println(holder == nil)
	// Output:
	// true
	// true
}
