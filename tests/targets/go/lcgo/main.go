// lcgo - the Go test target: goroutines parked in functions a reader can
// recognise, and globals with known values, for `dlv core` on a core of it.
//
//	lcgo -o INFO
//
// When every goroutine has reached its parking place, lcgo writes INFO
// atomically (a temporary name, then rename) as KEY=VALUE lines:
//
//	pid=PID
//	busy_tid=TID          the thread main.busyLoop is locked to
//	marker=0x...          the value of main.lcGlobalMarker
//	string=...            the value of main.lcGlobalString
//	heap_marker=0x...     the value of main.lcHeapRecord.Marker
//	heap_name=...         the value of main.lcHeapRecord.Name
//	goroutines=F1,F2,...  the parked goroutines' functions
//	ready=1               last, so a reader of INFO sees it whole
//
// and runs until killed. Standard library only: it builds with no network.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Read by dlv `print main.lcGlobalMarker`: "livec0re" in ASCII.
var lcGlobalMarker uint64 = 0x6c69766563307265

var lcGlobalString = "livecore go target"

// A value on the Go heap, reached from a global: dlv reads it through the
// pointer, so the heap arena must be in the core. Its marker is the
// complement of lcGlobalMarker.
type heapRecord struct {
	Marker uint64
	Name   string
}

var lcHeapRecord *heapRecord

// Written by busyLoop so that it is never a loop the compiler can drop.
var lcBusyCounter uint64

var (
	neverSent    = make(chan int)
	neverSentToo = make(chan string)
	heldMutex    sync.Mutex
)

// Each parking function is kept out of line so that it is a frame of its
// own in every reader's backtrace (the Makefile also builds with -N -l).

//go:noinline
func blockOnChannel() {
	<-neverSent
}

//go:noinline
func blockInSelect() {
	select {
	case <-neverSent:
	case <-neverSentToo:
	}
}

//go:noinline
func blockOnMutex() {
	heldMutex.Lock()
	heldMutex.Unlock()
}

// busyLoop owns its OS thread, so that a core holds one thread whose
// registers are inside a goroutine: Delve links that goroutine to the
// thread through the thread's fs_base (TLS) and registers.
//
//go:noinline
func busyLoop(tid chan<- int) {
	runtime.LockOSThread()
	tid <- syscall.Gettid()
	for {
		atomic.AddUint64(&lcBusyCounter, 1)
	}
}

//go:noinline
func sleepLoop() {
	for {
		time.Sleep(time.Hour)
	}
}

// Which goroutine state runtime.Stack prints for a goroutine that has
// reached its parking place in each function.
var parked = []struct {
	function string
	states   []string
}{
	{"main.blockOnChannel", []string{"chan receive"}},
	{"main.blockInSelect", []string{"select"}},
	{"main.blockOnMutex", []string{"sync.Mutex.Lock", "semacquire"}},
	{"main.sleepLoop", []string{"sleep"}},
	{"main.busyLoop", []string{"running", "runnable"}},
}

// allParked reports whether runtime.Stack shows every goroutine of parked
// in its expected state. A goroutine started but not yet blocked would
// give a core whose backtraces depend on timing.
func allParked() bool {
	buf := make([]byte, 1<<20)
	dump := string(buf[:runtime.Stack(buf, true)])
	for _, p := range parked {
		found := false
		for _, block := range strings.Split(dump, "\n\n") {
			if !strings.Contains(block, p.function+"(") {
				continue
			}
			header := strings.SplitN(block, "\n", 2)[0]
			for _, s := range p.states {
				if strings.Contains(header, "["+s) {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func writeInfo(path string, busyTid int) error {
	names := make([]string, len(parked))
	for i, p := range parked {
		names[i] = p.function
	}
	text := fmt.Sprintf("pid=%d\nbusy_tid=%d\nmarker=%#x\nstring=%s\nheap_marker=%#x\nheap_name=%s\ngoroutines=%s\nready=1\n",
		os.Getpid(), busyTid, lcGlobalMarker, lcGlobalString,
		lcHeapRecord.Marker, lcHeapRecord.Name, strings.Join(names, ","))
	tmp, err := os.CreateTemp(filepath.Dir(path), ".lcgo-info-*")
	if err != nil {
		return err
	}
	if _, err = tmp.WriteString(text); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// The main goroutine keeps the main thread, so that busyLoop's locked
// thread is another one: a reader that links goroutines to threads must
// then find the right thread, not merely the first.
func init() {
	runtime.LockOSThread()
}

func main() {
	info := flag.String("o", "", "write the info file `INFO` when ready")
	flag.Parse()
	if *info == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: lcgo -o INFO")
		os.Exit(2)
	}

	lcHeapRecord = &heapRecord{Marker: ^lcGlobalMarker, Name: "on the go heap"}
	heldMutex.Lock() // held for good: blockOnMutex waits forever
	go blockOnChannel()
	go blockInSelect()
	go blockOnMutex()
	go sleepLoop()
	tid := make(chan int)
	go busyLoop(tid)
	busyTid := <-tid

	deadline := time.Now().Add(30 * time.Second)
	for !allParked() {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "lcgo: goroutines did not park within 30 s")
			os.Exit(1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := writeInfo(*info, busyTid); err != nil {
		fmt.Fprintf(os.Stderr, "lcgo: writing %s: %v\n", *info, err)
		os.Exit(1)
	}
	select {} // until killed
}
