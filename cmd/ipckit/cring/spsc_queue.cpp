// spsc_queue: the "C++ SPSC queue (2 threads)" row of `ipckit bench`, built
// at run time with c++. It is this project's own queue of the kind of
// rigtorp's SPSCQueue (same algorithm, written here from its description):
// a power-of-two array of fixed-size slots; the write index and the read
// index on cache lines of their own, each beside the side's private cached
// copy of the other side's index (re-read only when the cache says full or
// empty); release stores of an index after the slot is written or read,
// acquire loads of the other side's; padding so that nothing else shares
// the slots' first and last lines. Two threads of one process, no
// blocking (both spin), messages copied in and out with memcpy as the
// rings copy theirs.
//
//   spsc_queue SIZE DUR_NS   send SIZE-byte messages for DUR_NS from one thread to the
//                            other; print "COUNT ELAPSED_NS"
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

constexpr size_t kLine = 64;

class Queue {
public:
	Queue(size_t slots, size_t slotSize)
	    : mask_(slots - 1), slotSize_(slotSize), buf_((slots + 2) * slotSize + 2 * kLine) {}

	// push copies n bytes into the next slot; false when full.
	bool push(const void *msg, size_t n) {
		const size_t w = write_.idx.load(std::memory_order_relaxed);
		if (w - write_.cache > mask_) {
			write_.cache = read_.idx.load(std::memory_order_acquire);
			if (w - write_.cache > mask_) return false;
		}
		unsigned char *s = slot(w);
		std::memcpy(s, &n, sizeof n);
		std::memcpy(s + sizeof n, msg, n);
		write_.idx.store(w + 1, std::memory_order_release);
		return true;
	}

	// pop copies the next message into buf and returns its length; -1 when empty.
	long pop(void *buf) {
		const size_t r = read_.idx.load(std::memory_order_relaxed);
		if (r == read_.cache) {
			read_.cache = write_.idx.load(std::memory_order_acquire);
			if (r == read_.cache) return -1;
		}
		const unsigned char *s = slot(r);
		size_t n;
		std::memcpy(&n, s, sizeof n);
		std::memcpy(buf, s + sizeof n, n);
		read_.idx.store(r + 1, std::memory_order_release);
		return static_cast<long>(n);
	}

private:
	// One slot of padding before the array keeps the first slot off the
	// line before it; the buffer is over-allocated for alignment.
	unsigned char *slot(size_t i) {
		uintptr_t base = (reinterpret_cast<uintptr_t>(buf_.data()) + kLine - 1) & ~(uintptr_t)(kLine - 1);
		return reinterpret_cast<unsigned char *>(base) + (1 + (i & mask_)) * slotSize_;
	}

	struct alignas(kLine) Side {
		std::atomic<size_t> idx{0};
		size_t cache = 0; // this side's copy of the other side's index
	};
	Side write_;
	Side read_;
	alignas(kLine) const size_t mask_;
	const size_t slotSize_;
	std::vector<unsigned char> buf_;
};

uint64_t nowNS() {
	return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

} // namespace

int main(int argc, char **argv) {
	if (argc < 3) {
		std::fprintf(stderr, "usage: spsc_queue SIZE DUR_NS\n");
		return 2;
	}
	const size_t size = std::strtoull(argv[1], nullptr, 10);
	const uint64_t dur = std::strtoull(argv[2], nullptr, 10);
	size_t slotSize = (size + sizeof(size_t) + kLine - 1) & ~(kLine - 1);
	size_t slots = 16;
	while (slots * slotSize < (1u << 20)) slots <<= 1; // about 1 MiB, like the rings
	Queue q(slots, slotSize);
	std::atomic<bool> done{false};
	uint64_t got = 0;
	std::thread consumer([&] {
		std::vector<unsigned char> buf(size + 1);
		for (;;) {
			if (q.pop(buf.data()) >= 0) {
				got++;
				continue;
			}
			if (done.load(std::memory_order_acquire)) {
				while (q.pop(buf.data()) >= 0) got++;
				return;
			}
		}
	});
	std::vector<unsigned char> msg(size);
	for (size_t i = 0; i < size; i++) msg[i] = (unsigned char)(i * 131 + 1); // every byte written, as in the other rows
	uint64_t sent = 0;
	const uint64_t start = nowNS();
	for (;;) {
		for (int i = 0; i < 64; i++) {
			while (!q.push(msg.data(), size)) {
			}
			sent++;
		}
		if (nowNS() - start >= dur) break;
	}
	done.store(true, std::memory_order_release);
	consumer.join();
	const uint64_t el = nowNS() - start;
	if (got != sent) {
		std::fprintf(stderr, "sent %llu, received %llu\n", (unsigned long long)sent, (unsigned long long)got);
		return 1;
	}
	std::printf("%llu %llu\n", (unsigned long long)sent, (unsigned long long)el);
	return 0;
}
