# An independent implementation of the package's documented randomness
# (SplitMix64, the stream derivation, Lemire's bounded draw, Fisher–Yates),
# used to produce the expected values in rng_test.go. Run: python3 rng_reference.py
M = (1 << 64) - 1
G = 0x9E3779B97F4A7C15


def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)


class SplitMix64:
    def __init__(self, state):
        self.state = state

    def next(self):
        self.state = (self.state + G) & M
        return mix(self.state)

    def below(self, n):
        x = self.next() * n
        hi, lo = x >> 64, x & M
        if lo < n:
            threshold = ((1 << 64) - n) % n
            while lo < threshold:
                x = self.next() * n
                hi, lo = x >> 64, x & M
        return hi


def derive(seed, kind, index):
    return SplitMix64(mix(seed ^ mix((kind * G + mix(index)) & M)))


def permutation(n, r):
    p = list(range(n))
    for i in range(n - 1, 0, -1):
        j = r.below(i + 1)
        p[i], p[j] = p[j], p[i]
    return p


SPLIT, EPOCH = 1, 2
print("epoch 0, seed 42, n 10:", permutation(10, derive(42, EPOCH, 0)))
print("epoch 1, seed 42, n 10:", permutation(10, derive(42, EPOCH, 1)))
print("split, seed 7, n 12:", permutation(12, derive(7, SPLIT, 0)))
r = SplitMix64(99)
print("below(3) from state 99:", [r.below(3) for _ in range(10)])
