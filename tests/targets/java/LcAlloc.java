// LcAlloc - the JVM test target (tests/bats/jvm.bats): THREADS threads
// named lc-alloc-0 .. lc-alloc-N-1 allocate byte[] of random sizes up to
// 64 KiB as fast as they can and replace random entries of a shared list
// that keeps about LIVE_MIB of them live, as a busy service's allocator
// does; the main thread holds MARKERS LcMarker objects for the whole run,
// which a heap walk of the core must find (jhsdb jmap --histo). Once all
// of that is set up it writes its pid to READY_FILE.
//
// A thread lc-watch measures the stalls a Java thread feels (bench/writers.sh):
// it parks 0.5 ms at a time and keeps the longest lateness of a wake-up
// (nanoseconds: a ptrace stop, a GC safepoint, a CPU taken); every 20 ms it
// writes that to READY_FILE.gap, and starts again from 0 when
// READY_FILE.reset exists (which it removes).
//
//   java -cp DIR LcAlloc READY_FILE [THREADS [LIVE_MIB]]
import java.io.File;
import java.io.FileWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;

public class LcAlloc {
	static final int MARKERS = 1000;

	static final class LcMarker {
		final long serial;

		LcMarker(long serial) { this.serial = serial; }
	}

	static final List<LcMarker> markers = new ArrayList<>();
	static byte[][] live;

	public static void main(String[] args) throws Exception {
		int threads = args.length > 1 ? Integer.parseInt(args[1]) : 4;
		int liveMib = args.length > 2 ? Integer.parseInt(args[2]) : 64;

		for (int i = 0; i < MARKERS; i++)
			markers.add(new LcMarker(i));
		// into the old generation before the allocators start: young
		// collections then leave them where they are
		System.gc();
		live = new byte[liveMib * 32][];     // about 32 KiB each on average
		Thread watcher = new Thread(() -> watch(args[0]), "lc-watch");
		watcher.setDaemon(true);
		watcher.start();
		for (int t = 0; t < threads; t++) {
			Thread th = new Thread(LcAlloc::allocate, "lc-alloc-" + t);
			th.setDaemon(true);
			th.start();
		}
		try (FileWriter w = new FileWriter(args[0] + ".tmp")) {
			w.write(ProcessHandle.current().pid() + "\n");
		}
		new java.io.File(args[0] + ".tmp").renameTo(new java.io.File(args[0]));
		for (;;) {
			Thread.sleep(1000);
			if (markers.size() != MARKERS)
				throw new IllegalStateException("markers lost");
		}
	}

	static void watch(String base) {
		File reset = new File(base + ".reset"), out = new File(base + ".gap"),
			tmp = new File(base + ".gap.tmp");
		long max = 0, last = System.nanoTime(), wrote = last;

		for (;;) {
			LockSupport.parkNanos(500_000);
			long now = System.nanoTime(), late = now - last - 500_000;

			if (late > max)
				max = late;
			last = now;
			if (now - wrote < 20_000_000)
				continue;
			if (reset.delete())
				max = 0;
			try (FileWriter w = new FileWriter(tmp)) {
				w.write(max + "\n");
			} catch (java.io.IOException e) {
				continue;
			}
			tmp.renameTo(out);
			// the write's own time counts as lateness at the next wake-up
			wrote = now;
		}
	}

	static void allocate() {
		ThreadLocalRandom r = ThreadLocalRandom.current();

		for (;;) {
			byte[] b = new byte[r.nextInt(64 << 10) + 1];
			b[0] = (byte) 0x5a;
			synchronized (live) {
				live[r.nextInt(live.length)] = b;
			}
		}
	}
}
