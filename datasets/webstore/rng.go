package webstore

import (
	"math"
	"math/bits"
)

// rng is a small, fast pseudo-random generator (wyrand). It is a concrete
// type so that the hot path makes no interface calls, and its output is
// fully determined by the seed on every platform.
type rng struct {
	s uint64
}

func newRNG(seed uint64) *rng {
	return &rng{s: mix64(seed ^ 0x9e3779b97f4a7c15)}
}

// Uint64 returns 64 random bits.
func (r *rng) Uint64() uint64 {
	r.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.s, r.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

// Float64 returns a uniform value in [0, 1).
func (r *rng) Float64() float64 {
	return float64(r.Uint64()>>11) * (1.0 / (1 << 53))
}

// Intn returns a uniform value in [0, n); n > 0.
func (r *rng) Intn(n int) int {
	hi, _ := bits.Mul64(r.Uint64(), uint64(n))
	return int(hi)
}

// Bool reports true with probability p.
func (r *rng) Bool(p float64) bool {
	return r.Float64() < p
}

// Exp returns an exponential variate with mean 1.
func (r *rng) Exp() float64 {
	return -math.Log(1 - r.Float64())
}

// Norm returns a standard normal variate (Box-Muller; the second value of
// each pair is thrown away so that the stream has no hidden state).
func (r *rng) Norm() float64 {
	u := 1 - r.Float64()
	v := r.Float64()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}

// LogNormal returns a log-normal variate with the given median and shape.
func (r *rng) LogNormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*r.Norm())
}

// Geometric returns a count >= 0 with the given mean.
func (r *rng) Geometric(mean float64) int {
	if mean <= 0 {
		return 0
	}
	p := 1 / (1 + mean) // P(stop) per trial
	return int(math.Floor(math.Log(1-r.Float64()) / math.Log(1-p)))
}

// Zipfish returns an index in [0, n) with P(i) roughly proportional to
// 1/(i+1): the continuous log-uniform inverse, one Exp per draw.
func (r *rng) Zipfish(n int) int {
	i := int(math.Exp(r.Float64()*math.Log(float64(n)+1))) - 1
	if i >= n {
		i = n - 1
	}
	return i
}

// mix64 is SplitMix64's finaliser: a bijective hash of 64 bits.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// hashUnit maps a key to a uniform value in [0, 1).
func hashUnit(k uint64) float64 {
	return float64(mix64(k)>>11) * (1.0 / (1 << 53))
}

// hashNorm maps a key to a standard normal value (deterministic noise).
func hashNorm(k uint64) float64 {
	u := 1 - hashUnit(k)
	v := hashUnit(k ^ 0x5851f42d4c957f2d)
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}
