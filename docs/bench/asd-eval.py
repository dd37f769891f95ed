"""scikit-learn's PCA on the shape of BenchmarkPCAFit, for docs/bench/asd-eval.sh pca.

Usage: /usr/bin/python3 docs/bench/asd-eval.py [ROWS] [METRICS] [REPEATS]

The baseline is ROWS x METRICS (default 3600 x 10000): 10 common Gaussian
factors plus unit noise, as in analysis/bench_test.go. Each fit standardises
(StandardScaler) and fits PCA(n_components=20), the cap vscope uses, with the
randomized solver at scikit-learn's default power iterations and with one
(vscope's default sketch amounts to one). Prints wall and CPU seconds per fit.
"""
import sys
import time

import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

n = int(sys.argv[1]) if len(sys.argv) > 1 else 3600
p = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
rng = np.random.default_rng(99)
X = rng.standard_normal((n, 10)) @ rng.standard_normal((10, p)) + rng.standard_normal((n, p))

for label, kw in (("sklearn-randomized-default", {}), ("sklearn-randomized-iter1", {"iterated_power": 1})):
    walls, cpus = [], []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        Z = StandardScaler().fit_transform(X)
        PCA(n_components=20, svd_solver="randomized", random_state=0, **kw).fit(Z)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    print(f"{label}\t{n}x{p}\twall_s={min(walls):.3f}\tcpu_s={min(cpus):.3f}\tsklearn={sklearn.__version__}")
