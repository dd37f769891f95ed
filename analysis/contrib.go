package analysis

// Per-metric contributions to the SPE of one standardised observation z with
// residual r = C̃·z, C̃ = I - P·Pᵀ.
//
// The plain contribution of metric j is r_j², which sums to the SPE. It
// smears on correlated metrics: a fault in metric j shows up in every
// residual that C̃ couples to j, and can make a healthy neighbour look
// worse than the faulty metric.
//
// The reconstruction-based contribution (RBC, Alcalá & Qin 2009) is the
// drop in SPE when z is corrected along metric j by the amount that best
// explains it: RBC_j = (ξ_jᵀ·C̃·z)² / (ξ_jᵀ·C̃·ξ_j) = r_j² / C̃_jj. For a
// single-metric fault of size f in metric j, RBC_j = C̃_jj·f² and, by
// Cauchy–Schwarz, RBC_i = C̃_ij²·f²/C̃_ii <= RBC_j for every other metric i:
// the faulty metric always ranks first, which plain contributions do not
// guarantee.

// Contributions writes the plain squared-residual contributions r_j² of the
// standardised vector z into dst and returns it.
func (m *PCA) Contributions(dst, z []float64) []float64 {
	r, _, _ := m.Residual(dst, z)
	for j, v := range r {
		r[j] = v * v
	}
	return r
}

// RBC writes the reconstruction-based contributions to the SPE of the
// standardised vector z into dst and returns it. A metric fully explained
// by the principal subspace (C̃_jj ≈ 0) cannot be reconstructed from the
// residual and gets 0.
func (m *PCA) RBC(dst, z []float64) []float64 {
	r, _, _ := m.Residual(dst, z)
	return m.rbcFromResidual(r, r)
}

// rbcFromResidual turns residuals r into RBCs in dst (which may alias r).
func (m *PCA) rbcFromResidual(dst, r []float64) []float64 {
	for j, v := range r {
		if d := m.resDiag[j]; d > 1e-10 {
			dst[j] = v * v / d
		} else {
			dst[j] = 0
		}
	}
	return dst
}

// RBCT2 writes the reconstruction-based contributions to Hotelling's T² of
// the standardised vector z into dst: with D = P·Λ⁻¹·Pᵀ,
// RBC_j = (ξ_jᵀ·D·z)² / D_jj. Metrics with no weight in the kept components
// get 0.
func (m *PCA) RBCT2(dst, z []float64) []float64 {
	t := m.Scores(nil, z)
	for c := range t {
		if m.Eigenvalues[c] > 0 {
			t[c] /= m.Eigenvalues[c]
		} else {
			t[c] = 0
		}
	}
	if cap(dst) < m.P {
		dst = make([]float64, m.P)
	}
	dst = dst[:m.P]
	raw := m.Loadings.RawMatrix()
	for j := range dst {
		row := raw.Data[j*raw.Stride : j*raw.Stride+m.K]
		dz, djj := 0.0, 0.0
		for c, l := range row {
			dz += l * t[c]
			if m.Eigenvalues[c] > 0 {
				djj += l * l / m.Eigenvalues[c]
			}
		}
		if djj > 1e-12 {
			dst[j] = dz * dz / djj
		} else {
			dst[j] = 0
		}
	}
	return dst
}
