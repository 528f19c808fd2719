"""Wrong answers to the coursework, each with the test cells it must fail and the feedback it must get.

``ANSWERS[assignment]`` lists ``(label, {solution cell id: code}, {test cell id: words of its message})``:
the solution cells not named keep the reference solution, and every test cell not named must pass. The
first answer of each assignment is also graded end to end by nbgrader (tests/test_coursework.py); the
others are graded in-process, by running the notebook's cells (hidden tests included) directly.
"""

from textwrap import dedent


def code(text: str) -> str:
    return dedent(text).strip("\n") + "\n"


ANSWERS = {
    "l02_ilvq_prototypes": [
        ("the plain mean; never rejected", {"merge_close": code("""
            def merge_close(W, labels, M, eps):
                W, labels, M = np.array(W, dtype=float), np.array(labels), np.array(M, dtype=float)
                while True:
                    best = None
                    for i in range(len(W)):
                        for j in range(i + 1, len(W)):
                            if labels[i] != labels[j]:
                                continue
                            dist = np.linalg.norm(W[i] - W[j])
                            if dist < eps and (best is None or dist < best[0]):
                                best = (dist, i, j)
                    if best is None:
                        return W, labels, M
                    _, i, j = best
                    W[i] = (W[i] + W[j]) / 2
                    M[i] = M[i] + M[j]
                    W, labels, M = np.delete(W, j, axis=0), np.delete(labels, j), np.delete(M, j)
                    continue
            """), "predict_or_reject": code("""
            def predict_or_reject(W, labels, T, X):
                W, X = np.asarray(W, float), np.atleast_2d(np.asarray(X, float))
                d = np.linalg.norm(X[:, None, :] - W[None, :, :], axis=2)
                s1 = np.argmin(d, axis=1)
                return np.asarray(labels)[s1]
            """)}, {"test_one_merge": "WIN-COUNT-weighted mean", "test_merge_until_done": "WIN-COUNT-weighted mean", "test_predict_or_reject": "is unknown: return -1"}),
        ("Manhattan distance", {"predict_or_reject": code("""
            def predict_or_reject(W, labels, T, X):
                W, X = np.asarray(W, float), np.atleast_2d(np.asarray(X, float))
                d = np.abs(X[:, None, :] - W[None, :, :]).sum(axis=2)
                s1 = np.argmin(d, axis=1)
                return np.where(d[np.arange(len(X)), s1] <= np.asarray(T)[s1], np.asarray(labels)[s1], -1)
            """)}, {"test_predict_or_reject": "not Manhattan"}),
        ("a strict threshold", {"predict_or_reject": code("""
            def predict_or_reject(W, labels, T, X):
                W, X = np.asarray(W, float), np.atleast_2d(np.asarray(X, float))
                d = np.linalg.norm(X[:, None, :] - W[None, :, :], axis=2)
                s1 = np.argmin(d, axis=1)
                return np.where(d[np.arange(len(X)), s1] < np.asarray(T)[s1], np.asarray(labels)[s1], -1)
            """)}, {"test_predict_or_reject": "exactly at the threshold"}),
        ("the prototype's index", {"predict_or_reject": code("""
            def predict_or_reject(W, labels, T, X):
                W, X = np.asarray(W, float), np.atleast_2d(np.asarray(X, float))
                d = np.linalg.norm(X[:, None, :] - W[None, :, :], axis=2)
                s1 = np.argmin(d, axis=1)
                return np.where(d[np.arange(len(X)), s1] <= np.asarray(T)[s1], s1, -1)
            """)}, {"test_predict_or_reject": "not its index"}),
        ("counts not added", {"merge_close": code("""
            def merge_close(W, labels, M, eps):
                W, labels, M = np.array(W, dtype=float), np.array(labels), np.array(M, dtype=float)
                while True:
                    best = None
                    for i in range(len(W)):
                        for j in range(i + 1, len(W)):
                            if labels[i] != labels[j]:
                                continue
                            dist = np.linalg.norm(W[i] - W[j])
                            if dist < eps and (best is None or dist < best[0]):
                                best = (dist, i, j)
                    if best is None:
                        return W, labels, M
                    _, i, j = best
                    W[i] = (M[i] * W[i] + M[j] * W[j]) / (M[i] + M[j])
                    M[i] = max(M[i], M[j])
                    W, labels, M = np.delete(W, j, axis=0), np.delete(labels, j), np.delete(M, j)
                    continue
            """)}, {"test_one_merge": "add the counts", "test_merge_until_done": "add the counts"}),
        ("labels ignored", {"merge_close": code("""
            def merge_close(W, labels, M, eps):
                W, labels, M = np.array(W, dtype=float), np.array(labels), np.array(M, dtype=float)
                while True:
                    best = None
                    for i in range(len(W)):
                        for j in range(i + 1, len(W)):
                            if False:
                                continue
                            dist = np.linalg.norm(W[i] - W[j])
                            if dist < eps and (best is None or dist < best[0]):
                                best = (dist, i, j)
                    if best is None:
                        return W, labels, M
                    _, i, j = best
                    W[i] = (M[i] * W[i] + M[j] * W[j]) / (M[i] + M[j])
                    M[i] = M[i] + M[j]
                    W, labels, M = np.delete(W, j, axis=0), np.delete(labels, j), np.delete(M, j)
                    continue
            """)}, {"test_one_merge": "different labels", "test_merge_until_done": "different labels"}),
        ("distance up to eps", {"merge_close": code("""
            def merge_close(W, labels, M, eps):
                W, labels, M = np.array(W, dtype=float), np.array(labels), np.array(M, dtype=float)
                while True:
                    best = None
                    for i in range(len(W)):
                        for j in range(i + 1, len(W)):
                            if labels[i] != labels[j]:
                                continue
                            dist = np.linalg.norm(W[i] - W[j])
                            if dist <= eps and (best is None or dist < best[0]):
                                best = (dist, i, j)
                    if best is None:
                        return W, labels, M
                    _, i, j = best
                    W[i] = (M[i] * W[i] + M[j] * W[j]) / (M[i] + M[j])
                    M[i] = M[i] + M[j]
                    W, labels, M = np.delete(W, j, axis=0), np.delete(labels, j), np.delete(M, j)
                    continue
            """)}, {"test_one_merge": "closer than eps"}),
        ("one merge only", {"merge_close": code("""
            def merge_close(W, labels, M, eps):
                W, labels, M = np.array(W, dtype=float), np.array(labels), np.array(M, dtype=float)
                while True:
                    best = None
                    for i in range(len(W)):
                        for j in range(i + 1, len(W)):
                            if labels[i] != labels[j]:
                                continue
                            dist = np.linalg.norm(W[i] - W[j])
                            if dist < eps and (best is None or dist < best[0]):
                                best = (dist, i, j)
                    if best is None:
                        return W, labels, M
                    _, i, j = best
                    W[i] = (M[i] * W[i] + M[j] * W[j]) / (M[i] + M[j])
                    M[i] = M[i] + M[j]
                    W, labels, M = np.delete(W, j, axis=0), np.delete(labels, j), np.delete(M, j)
                    return W, labels, M
            """)}, {"test_merge_until_done": "look again"}),
        ("the inputs changed", {"merge_close": code("""
            def merge_close(W, labels, M, eps):
                W, labels, M = np.asarray(W), np.asarray(labels), np.asarray(M)
                while True:
                    best = None
                    for i in range(len(W)):
                        for j in range(i + 1, len(W)):
                            dist = np.linalg.norm(W[i] - W[j])
                            if labels[i] == labels[j] and dist < eps and (best is None or dist < best[0]):
                                best = (dist, i, j)
                    if best is None:
                        return W, labels, M
                    _, i, j = best
                    W[i] = (M[i] * W[i] + M[j] * W[j]) / (M[i] + M[j])
                    M[i] = M[i] + M[j]
                    W, labels, M = np.delete(W, j, axis=0), np.delete(labels, j), np.delete(M, j)
            """)}, {"test_one_merge": "changed the arrays", "test_merge_until_done": "changed the arrays"}),
    ],
    "l03_break_fedavg": [
        ("an IID split", {"my_split": code("""
            def my_split(y, n_clients, seed):
                return np.array_split(np.random.default_rng(seed).permutation(len(y)), n_clients)
            """)}, {"test_breaks_fedavg": "fewer classes"}),
        ("every client gets everything", {"my_split": code("""
            def my_split(y, n_clients, seed):
                return [np.arange(len(y))] * n_clients
            """)}, {"test_partition": "more than one client", "test_breaks_fedavg": "fix the partitioner first"}),
        ("written for the notebook's labels only", {"my_split": code("""
            def my_split(y, n_clients, seed):
                return [np.sort(p) for p in np.array_split(np.argsort(y_train, kind="stable"), n_clients)]
            """)}, {"test_partition": "997 labels", "test_breaks_fedavg": "outside the data"}),
        ("float indices", {"my_split": code("""
            def my_split(y, n_clients, seed):
                return np.array_split(np.argsort(y, kind="stable") * 1.0, n_clients)
            """)}, {"test_partition": "integers", "test_breaks_fedavg": "integers"}),
        ("the lesson's Dirichlet partitioner", {"my_split": code("""
            from tinydtl.data.partition import dirichlet

            def my_split(y, n_clients, seed):
                return dirichlet(y, n_clients, 0.05, seed=seed)
            """)}, {"test_partition": "lesson's partitioners do not count",
                    "test_breaks_fedavg": "lesson's partitioners do not count"}),
    ],
    "l04_metropolis_consensus": [
        ("the lesson's equal weights, eigvalsh of P", {"metropolis": code("""
            def metropolis(G, pi):
                n = G.number_of_nodes()
                A = nx.to_numpy_array(G, nodelist=range(n))
                deg = A.sum(axis=1)
                W = A / (1 + np.maximum.outer(deg, deg))
                W += np.diag(1 - W.sum(axis=1))
                return W
            """), "predicted_rate": code("""
            def predicted_rate(G, pi):
                ev = np.linalg.eigvalsh(metropolis(G, pi))
                return max(abs(ev[0]), abs(ev[-2]))
            """)}, {"test_metropolis": "the target π must enter", "test_rate": "reads only one triangle"}),
        ("the signed second eigenvalue", {"predicted_rate": code("""
            def predicted_rate(G, pi):
                return float(np.sort(np.linalg.eigvals(metropolis(G, pi)).real)[-2])
            """)}, {"test_rate": "most negative one has the larger modulus"}),
        ("no diagonal; the second singular value", {"metropolis": code("""
            def metropolis(G, pi):
                n = G.number_of_nodes()
                P = np.zeros((n, n))
                for i, j in G.edges():
                    di, dj = G.degree(i), G.degree(j)
                    P[i, j] = min(1 / (1 + di), pi[j] / (pi[i] * (1 + dj)))
                    P[j, i] = min(1 / (1 + dj), pi[i] / (pi[j] * (1 + di)))
                return P
            """), "predicted_rate": code("""
            def predicted_rate(G, pi):
                return float(np.linalg.svd(metropolis(G, pi), compute_uv=False)[1])
            """)}, {"test_metropolis": "P[i,i] = 1 -", "test_rate": "singular value"}),
        ("the ratio upside down; the equal-weight rate", {"metropolis": code("""
            def metropolis(G, pi):
                n = G.number_of_nodes()
                P = np.zeros((n, n))
                for i, j in G.edges():
                    di, dj = G.degree(i), G.degree(j)
                    P[i, j] = min(1 / (1 + di), pi[i] / (pi[j] * (1 + dj)))
                    P[j, i] = min(1 / (1 + dj), pi[j] / (pi[i] * (1 + di)))
                P[np.diag_indices(n)] = 1 - P.sum(axis=1)
                return P
            """), "predicted_rate": code("""
            def predicted_rate(G, pi):
                ev = np.linalg.eigvalsh(metropolis(G, np.ones(G.number_of_nodes())))
                return max(abs(ev[0]), abs(ev[-2]))
            """)}, {"test_metropolis": "upside down", "test_rate": "equal-weight matrix"}),
        ("a symmetric P", {"metropolis": code("""
            def metropolis(G, pi):
                n = G.number_of_nodes()
                P = np.zeros((n, n))
                for i, j in G.edges():
                    di, dj = G.degree(i), G.degree(j)
                    P[i, j] = P[j, i] = min(1 / (1 + di), pi[j] / (pi[i] * (1 + dj)), 1 / (1 + dj), pi[i] / (pi[j] * (1 + di)))
                P[np.diag_indices(n)] = 1 - P.sum(axis=1)
                return P
            """)}, {"test_metropolis": "you made P symmetric"}),
        ("the package's own weights", {"metropolis": code("""
            from tinydtl.networks.gossip import metropolis_weights

            def metropolis(G, pi):
                return metropolis_weights(G).toarray()
            """)}, {"test_metropolis": "tinydtl's own"}),
        ("the spectral gap, and a crash", {"metropolis": code("""
            def metropolis(G, pi):
                return 1 / 0
            """), "predicted_rate": code("""
            def predicted_rate(G, pi):
                ev = np.sort(np.abs(np.linalg.eigvals(metropolis(G, pi))))
                return 1 - ev[-2]
            """)}, {"test_metropolis": "ZeroDivisionError", "test_rate": "spectral gap"}),
    ],
    "l05_cumulative_fedavg": [
        ("the running sum, not the average", {"cumulative_fedavg": code("""
            class MyCumulativeFedAvg:
                def __init__(self):
                    self.sum = None

                def add(self, weights, n):
                    w = [np.float32(n) * np.asarray(a, np.float32) for a in weights]
                    self.sum = w if self.sum is None else [s + a for s, a in zip(self.sum, w)]

                def fade(self, gamma):
                    self.sum = [s * np.float32(gamma) for s in self.sum]

                def result(self):
                    return self.sum

                @property
                def nbytes(self):
                    return sum(s.nbytes for s in self.sum)
            """)}, {"test_average": "divide by the total weight"}),
        ("store-all, unweighted, lying about its memory", {"cumulative_fedavg": code("""
            class MyCumulativeFedAvg:
                def __init__(self):
                    self.models = []

                def add(self, weights, n):
                    self.models.append([np.asarray(a, np.float32) for a in weights])

                def fade(self, gamma):
                    pass

                def result(self):
                    return [np.mean([m[i] for m in self.models], axis=0) for i in range(len(self.models[0]))]

                @property
                def nbytes(self):
                    return 108
            """)}, {"test_average": "without weights", "test_memory": "measured, not reported"}),
        ("the package's own aggregator", {"cumulative_fedavg": code("""
            from tinydtl.core.aggregation import CumulativeFedAvg as MyCumulativeFedAvg
            """)}, {"test_average": "tinydtl's own", "test_memory": "tinydtl's own"}),
        ("nbytes not written", {"cumulative_fedavg": code("""
            class MyCumulativeFedAvg:
                def __init__(self):
                    self.sum, self.total = None, 0.0

                def add(self, weights, n):
                    w = [np.float32(n) * np.asarray(a, np.float32) for a in weights]
                    self.sum = w if self.sum is None else [s + a for s, a in zip(self.sum, w)]
                    self.total += n

                def fade(self, gamma):
                    self.sum = [s * np.float32(gamma) for s in self.sum]
                    self.total *= gamma

                def result(self):
                    return [s / self.total for s in self.sum]

                @property
                def nbytes(self):
                    raise NotImplementedError
            """)}, {"test_memory": "not implemented yet"}),
            ("lesson 06's exercise: no fade", {"cumulative_fedavg": code("""
            class MyCumulativeFedAvg:
                def __init__(self):
                    self.sum, self.total = None, 0.0

                def add(self, weights, n):
                    w = [np.float32(n) * np.asarray(a, np.float32) for a in weights]
                    self.sum = w if self.sum is None else [s + a for s, a in zip(self.sum, w)]
                    self.total += n

                def result(self):
                    return [s / self.total for s in self.sum]

                @property
                def nbytes(self):
                    return sum(s.nbytes for s in self.sum)
            """)}, {"test_average": "no `fade(gamma)` method", "test_memory": "no `fade(gamma)` method"}),
        ("the sum faded, not the total", {"cumulative_fedavg": code("""
            class MyCumulativeFedAvg:
                def __init__(self):
                    self.sum, self.total = None, 0.0

                def add(self, weights, n):
                    w = [np.float32(n) * np.asarray(a, np.float32) for a in weights]
                    self.sum = w if self.sum is None else [s + a for s, a in zip(self.sum, w)]
                    self.total += n

                def fade(self, gamma):
                    self.sum = [s * np.float32(gamma) for s in self.sum]

                def result(self):
                    return [s / self.total for s in self.sum]

                @property
                def nbytes(self):
                    return sum(s.nbytes for s in self.sum)
            """)}, {"test_average": "not the total weight"}),
        ("fade as a no-op", {"cumulative_fedavg": code("""
            class MyCumulativeFedAvg:
                def __init__(self):
                    self.sum, self.total = None, 0.0

                def add(self, weights, n):
                    w = [np.float32(n) * np.asarray(a, np.float32) for a in weights]
                    self.sum = w if self.sum is None else [s + a for s, a in zip(self.sum, w)]
                    self.total += n

                def fade(self, gamma):
                    self.gamma = gamma

                def result(self):
                    return [s / self.total for s in self.sum]

                @property
                def nbytes(self):
                    return sum(s.nbytes for s in self.sum)
            """)}, {"test_average": "as if nothing had faded"}),
        ("fade divides instead of multiplying", {"cumulative_fedavg": code("""
            class MyCumulativeFedAvg:
                def __init__(self):
                    self.sum, self.total = None, 0.0

                def add(self, weights, n):
                    w = [np.float32(n) * np.asarray(a, np.float32) for a in weights]
                    self.sum = w if self.sum is None else [s + a for s, a in zip(self.sum, w)]
                    self.total += n

                def fade(self, gamma):
                    self.sum = [s / np.float32(gamma) for s in self.sum]
                    self.total /= gamma

                def result(self):
                    return [s / self.total for s in self.sum]

                @property
                def nbytes(self):
                    return sum(s.nbytes for s in self.sum)
            """)}, {"test_average": "count MORE"}),
    ],
    "l06_mcu_memory": [
        ("Adam with one slot", {"peak_sram": code("""
            def peak_sram(sizes, batch_size=1, optimizer="sgd", aggregation="none", neighbours=0):
                params = n_parameters(sizes)
                layers, outs = len(sizes) - 1, sizes[1:]
                slots = {"sgd": 0, "momentum": 1, "adam": 1}[optimizer]
                store = {"none": 0, "store_all": neighbours * (params + 4 * layers), "cumulative": 4 * params + 4}[aggregation]
                persistent = 4 * params * (1 + slots)
                train = 4 * params + 4 * batch_size * (sum(outs) + max(outs)) + batch_size * sizes[0]
                exchange = 2 * (params + 4 * layers) + store
                return persistent + max(train, exchange)
            """)}, {"test_peak_optimizers": "two float32 slots"}),
        ("the lesson's all-float32 device", {"peak_sram": code("""
            def peak_sram(sizes, batch_size=1, optimizer="sgd", aggregation="none", neighbours=0):
                params = n_parameters(sizes)
                layers, outs = len(sizes) - 1, sizes[1:]
                slots = {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
                store = {"none": 0, "store_all": neighbours * 4 * params, "cumulative": 4 * params}[aggregation]
                persistent = 4 * params * (1 + slots)
                train = 4 * params + 4 * batch_size * (sum(outs) + max(outs)) + 4 * batch_size * sizes[0]
                exchange = 2 * (4 * params) + store
                return persistent + max(train, exchange)
            """)}, {"test_peak_sgd": "lesson's all-float32 device", "test_peak_optimizers": "lesson's all-float32 device"}),
        ("weights only, phases added", {"n_parameters": code("""
            def n_parameters(sizes):
                return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
            """), "peak_sram": code("""
            def peak_sram(sizes, batch_size=1, optimizer="sgd", aggregation="none", neighbours=0):
                params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
                layers, outs = len(sizes) - 1, sizes[1:]
                slots = {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
                store = {"none": 0, "store_all": neighbours * (params + 4 * layers), "cumulative": 4 * params + 4}[aggregation]
                persistent = 4 * params * (1 + slots)
                train = 4 * params + 4 * batch_size * (sum(outs) + max(outs)) + batch_size * sizes[0]
                exchange = 2 * (params + 4 * layers) + store
                return persistent + train + exchange
            """)}, {"test_parameters": "weights only", "test_peak_sgd": "max(train, exchange)", "test_peak_optimizers": "max(train, exchange)"}),
        ("float32 messages", {"peak_sram": code("""
            def peak_sram(sizes, batch_size=1, optimizer="sgd", aggregation="none", neighbours=0):
                params = n_parameters(sizes)
                layers, outs = len(sizes) - 1, sizes[1:]
                slots = {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
                store = {"none": 0, "store_all": neighbours * params, "cumulative": 4 * params + 4}[aggregation]
                persistent = 4 * params * (1 + slots)
                train = 4 * params + 4 * batch_size * (sum(outs) + max(outs)) + batch_size * sizes[0]
                exchange = 2 * (4 * params) + store
                return persistent + max(train, exchange)
            """)}, {"test_peak_sgd": "int8", "test_peak_optimizers": "int8"}),
        ("no scales", {"peak_sram": code("""
            def peak_sram(sizes, batch_size=1, optimizer="sgd", aggregation="none", neighbours=0):
                params = n_parameters(sizes)
                layers, outs = len(sizes) - 1, sizes[1:]
                slots = {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
                store = {"none": 0, "store_all": neighbours * params, "cumulative": 4 * params + 4}[aggregation]
                persistent = 4 * params * (1 + slots)
                train = 4 * params + 4 * batch_size * (sum(outs) + max(outs)) + batch_size * sizes[0]
                exchange = 2 * (params) + store
                return persistent + max(train, exchange)
            """)}, {"test_peak_sgd": "one float32 scale per layer", "test_peak_optimizers": "one float32 scale per layer"}),
        ("float32 inputs", {"peak_sram": code("""
            def peak_sram(sizes, batch_size=1, optimizer="sgd", aggregation="none", neighbours=0):
                params = n_parameters(sizes)
                layers, outs = len(sizes) - 1, sizes[1:]
                slots = {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
                store = {"none": 0, "store_all": neighbours * (params + 4 * layers), "cumulative": 4 * params + 4}[aggregation]
                persistent = 4 * params * (1 + slots)
                train = 4 * params + 4 * batch_size * (sum(outs) + max(outs)) + 4 * batch_size * sizes[0]
                exchange = 2 * (params + 4 * layers) + store
                return persistent + max(train, exchange)
            """)}, {"test_peak_sgd": "uint8", "test_peak_optimizers": "uint8"}),
        ("store-all kept in float32", {"peak_sram": code("""
            def peak_sram(sizes, batch_size=1, optimizer="sgd", aggregation="none", neighbours=0):
                params = n_parameters(sizes)
                layers, outs = len(sizes) - 1, sizes[1:]
                slots = {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
                store = {"none": 0, "store_all": neighbours * (4 * params + 4 * layers), "cumulative": 4 * params + 4}[aggregation]
                persistent = 4 * params * (1 + slots)
                train = 4 * params + 4 * batch_size * (sum(outs) + max(outs)) + batch_size * sizes[0]
                exchange = 2 * (params + 4 * layers) + store
                return persistent + max(train, exchange)
            """)}, {"test_peak_sgd": "as they came", "test_peak_optimizers": "as they came"}),
        ("an int8 running sum without its total", {"peak_sram": code("""
            def peak_sram(sizes, batch_size=1, optimizer="sgd", aggregation="none", neighbours=0):
                params = n_parameters(sizes)
                layers, outs = len(sizes) - 1, sizes[1:]
                slots = {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
                store = {"none": 0, "store_all": neighbours * (params + 4 * layers), "cumulative": params + 4}[aggregation]
                persistent = 4 * params * (1 + slots)
                train = 4 * params + 4 * batch_size * (sum(outs) + max(outs)) + batch_size * sizes[0]
                exchange = 2 * (params + 4 * layers) + store
                return persistent + max(train, exchange)
            """)}, {"test_peak_sgd": "running sum is float32"}),
        ("no error buffer", {"peak_sram": code("""
            def peak_sram(sizes, batch_size=1, optimizer="sgd", aggregation="none", neighbours=0):
                params = n_parameters(sizes)
                layers, outs = len(sizes) - 1, sizes[1:]
                slots = {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
                store = {"none": 0, "store_all": neighbours * (params + 4 * layers), "cumulative": 4 * params + 4}[aggregation]
                persistent = 4 * params * (1 + slots)
                train = 4 * params + 4 * batch_size * (sum(outs) + 0) + batch_size * sizes[0]
                exchange = 2 * (params + 4 * layers) + store
                return persistent + max(train, exchange)
            """)}, {"test_peak_sgd": "error buffer", "test_peak_optimizers": "error buffer"}),
        ("the whole SRAM", {"largest_hidden": code("""
            def largest_hidden(sram_bytes):
                h = 0
                while peak_sram([784, h + 1, 10]) <= sram_bytes:
                    h += 1
                return h
            """)}, {"test_largest_hidden": "only 75 %"}),
        ("the first width that does not fit", {"largest_hidden": code("""
            def largest_hidden(sram_bytes):
                h = 0
                while peak_sram([784, h, 10]) <= 0.75 * sram_bytes:
                    h += 1
                return h
            """)}, {"test_largest_hidden": "the last width that fits"}),
    ],
    "l07_adaptive_tau": [
        ("no closing round, unweighted node means", {"last_round_tau": code("""
            def last_round_tau(tau, c, b, spent, budget):
                return max(0, min(tau, int((budget - spent - b) // c)))
            """), "estimates": code("""
            def estimates(w_prev, w, grad_prev, grad_now, loss_prev, loss_now, sizes):
                equal, wts = np.full(len(sizes), 1 / len(sizes)), np.asarray(sizes, float) / np.sum(sizes)
                dist = np.linalg.norm(np.asarray(w_prev) - w, axis=1)
                betas = np.linalg.norm(grad_prev - grad_now, axis=1) / dist
                rhos = np.abs(loss_prev - loss_now) / dist
                gbar = wts @ grad_now
                return float(equal @ betas), float(equal @ rhos), float(wts @ np.linalg.norm(grad_now - gbar, axis=1))
            """)}, {"test_last_round_tau": "keep back the closing round", "test_estimates_beta_rho": "weigh"}),
        ("unweighted means", {"estimates": code("""
            def estimates(w_prev, w, grad_prev, grad_now, loss_prev, loss_now, sizes):
                wts = np.asarray(sizes, float) / np.sum(sizes)
                dist = np.linalg.norm(np.asarray(w_prev) - w, axis=1)
                betas = np.linalg.norm(grad_prev - grad_now, axis=1) / dist
                rhos = np.abs(loss_prev - loss_now) / dist
                gbar = wts @ grad_now
                return float(np.full(len(sizes), 1 / len(sizes)) @ betas), float(np.full(len(sizes), 1 / len(sizes)) @ rhos), float(wts @ np.linalg.norm(grad_now - gbar, axis=1))
            """)}, {"test_estimates_beta_rho": "weigh"}),
        ("an unweighted global gradient", {"estimates": code("""
            def estimates(w_prev, w, grad_prev, grad_now, loss_prev, loss_now, sizes):
                wts = np.asarray(sizes, float) / np.sum(sizes)
                dist = np.linalg.norm(np.asarray(w_prev) - w, axis=1)
                betas = np.linalg.norm(grad_prev - grad_now, axis=1) / dist
                rhos = np.abs(loss_prev - loss_now) / dist
                gbar = grad_now.mean(axis=0)
                return float(wts @ betas), float(wts @ rhos), float(wts @ np.linalg.norm(grad_now - gbar, axis=1))
            """)}, {"test_estimates_delta": "D_i-weighted mean of the nodes' gradients"}),
        ("squared norms in δ̂", {"estimates": code("""
            def estimates(w_prev, w, grad_prev, grad_now, loss_prev, loss_now, sizes):
                wts = np.asarray(sizes, float) / np.sum(sizes)
                dist = np.linalg.norm(np.asarray(w_prev) - w, axis=1)
                betas = np.linalg.norm(grad_prev - grad_now, axis=1) / dist
                rhos = np.abs(loss_prev - loss_now) / dist
                gbar = wts @ grad_now
                return float(wts @ betas), float(wts @ rhos), float(wts @ np.linalg.norm(grad_now - gbar, axis=1) ** 2)
            """)}, {"test_estimates_delta": "not their squares"}),
        ("the divergence at the previous models", {"estimates": code("""
            def estimates(w_prev, w, grad_prev, grad_now, loss_prev, loss_now, sizes):
                wts = np.asarray(sizes, float) / np.sum(sizes)
                dist = np.linalg.norm(np.asarray(w_prev) - w, axis=1)
                betas = np.linalg.norm(grad_prev - grad_now, axis=1) / dist
                rhos = np.abs(loss_prev - loss_now) / dist
                gbar = wts @ grad_prev
                return float(wts @ betas), float(wts @ rhos), float(wts @ np.linalg.norm(grad_prev - gbar, axis=1))
            """)}, {"test_estimates_delta": "grad_now"}),
        ("ρ̂ signed", {"estimates": code("""
            def estimates(w_prev, w, grad_prev, grad_now, loss_prev, loss_now, sizes):
                wts = np.asarray(sizes, float) / np.sum(sizes)
                dist = np.linalg.norm(np.asarray(w_prev) - w, axis=1)
                betas = np.linalg.norm(grad_prev - grad_now, axis=1) / dist
                rhos = (loss_prev - loss_now) / dist
                gbar = wts @ grad_now
                return float(wts @ betas), float(wts @ rhos), float(wts @ np.linalg.norm(grad_now - gbar, axis=1))
            """)}, {"test_estimates_beta_rho": "can go down or up"}),
        ("the closing round without its step", {"last_round_tau": code("""
            def last_round_tau(tau, c, b, spent, budget):
                return max(0, min(tau, int((budget - spent - 2 * b) // c)))
            """)}, {"test_last_round_tau": "also takes one local step"}),
        ("more than asked for", {"last_round_tau": code("""
            def last_round_tau(tau, c, b, spent, budget):
                return max(0, math.floor((budget - spent - 2 * b - c) / c + 1e-9))
            """)}, {"test_last_round_tau": "never give more"}),
        ("rounded up", {"last_round_tau": code("""
            def last_round_tau(tau, c, b, spent, budget):
                return max(0, min(tau, math.ceil((budget - spent - 2 * b - c) / c - 1e-9)))
            """)}, {"test_last_round_tau": "round down"}),
        ("at least one step", {"last_round_tau": code("""
            def last_round_tau(tau, c, b, spent, budget):
                return max(1, min(tau, math.floor((budget - spent - 2 * b - c) / c + 1e-9)))
            """)}, {"test_last_round_tau": "training stops"}),
    ],
    "l08_minirocket": [
        ("the lesson's centred convolution, the PPV, each block on its own", {"causal_conv": code("""
            def causal_conv(x, w, d):
                padded = np.pad(np.asarray(x, float), 4 * d)
                return sum(w[p] * padded[p * d : p * d + len(x)] for p in range(9))
            """), "mpv": code("""
            def mpv(C, bias):
                return float((np.asarray(C) > bias).mean())
            """), "softmax_from_blocks": code("""
            def softmax_from_blocks(logit_blocks):
                out = []
                for z in logit_blocks:
                    e = np.exp(z - z.max(axis=1, keepdims=True))
                    out.append(e / e.sum(axis=1, keepdims=True))
                return np.concatenate(out, axis=1)
            """)}, {"test_causal_conv": "lesson's centred convolution", "test_mpv": "that is the PPV",
                    "test_softmax_from_blocks": "normalised on its own"}),
        ("np.convolve's flipped kernel", {"causal_conv": code("""
            def causal_conv(x, w, d):
                k = np.zeros(8 * d + 1)
                k[::d] = w
                return np.convolve(np.asarray(x, float), k)[: len(x)]
            """)}, {"test_causal_conv": "flipped"}),
        ("no dilation", {"causal_conv": code("""
            def causal_conv(x, w, d):
                x = np.asarray(x, float)
                padded = np.concatenate([np.zeros(8), x])
                return sum(w[p] * padded[p : p + len(x)] for p in range(9))
            """)}, {"test_causal_conv": "samples apart"}),
        ("only where the window fits", {"causal_conv": code("""
            def causal_conv(x, w, d):
                x = np.asarray(x, float)
                n = len(x) - 8 * d
                return sum(w[p] * x[p * d : p * d + n] for p in range(9))
            """)}, {"test_causal_conv": "one value per time step"}),
        ("divided by every position", {"mpv": code("""
            def mpv(C, bias):
                return float(np.maximum(np.asarray(C) - bias, 0).mean())
            """)}, {"test_mpv": "not by all of them"}),
        ("NaN when nothing is positive", {"mpv": code("""
            def mpv(C, bias):
                e = np.asarray(C) - bias
                return float(np.mean(e[e > 0]))
            """)}, {"test_mpv": "not NaN"}),
        ("ties counted", {"mpv": code("""
            def mpv(C, bias):
                e = np.asarray(C) - bias
                return float(e[e >= 0].mean()) if np.any(e >= 0) else 0.0
            """)}, {"test_mpv": "strictly positive"}),
        ("exp without the largest logit", {"softmax_from_blocks": code("""
            def softmax_from_blocks(logit_blocks):
                e = np.exp(np.concatenate(logit_blocks, axis=1))
                return e / e.sum(axis=1, keepdims=True)
            """)}, {"test_softmax_from_blocks": "overflows"}),
        ("scipy's softmax", {"softmax_from_blocks": code("""
            from scipy.special import softmax

            def softmax_from_blocks(logit_blocks):
                return softmax(np.concatenate(logit_blocks, axis=1), axis=1)
            """)}, {"test_softmax_from_blocks": "normalise the blocks yourself"}),
    ],
    "l09_one_vs_one": [
        ("ties to the largest class", {"vote": code("""
            def vote(winners, K):
                W = np.asarray(winners)
                v = np.stack([(W == c).sum(axis=1) for c in range(K)], axis=1)
                out = K - 1 - v[:, ::-1].argmax(axis=1)
                out[v.sum(axis=1) == 0] = -1
                return out
            """)}, {"test_vote": "the smallest class wins"}),
        ("the lesson's 0/1 vote, both orders unhandled, the dense size", {"problem_index": code("""
            import itertools

            def problem_index(a, b, K):
                return list(itertools.combinations(range(K), 2)).index((a, b)) if a < b else -1
            """), "vote": code("""
            def vote(winners, K):
                P = np.asarray(winners)
                votes = np.zeros((len(P), K))
                for k, (i, j) in enumerate(itertools.combinations(range(K), 2)):
                    votes[:, i] += P[:, k] == 0
                    votes[:, j] += P[:, k] == 1
                return np.argmax(votes, axis=1)
            """), "encoded_bytes": code("""
            def encoded_bytes(vector):
                return 4 * len(vector)
            """)}, {"test_problem_index": "either order", "test_vote": "not 0/1", "test_encoded_bytes": "dense"}),
        ("j outer", {"problem_index": code("""
            def problem_index(a, b, K):
                i, j = min(a, b), max(a, b)
                return j * (j - 1) // 2 + i
            """)}, {"test_problem_index": "i outer, j inner"}),
        ("rows of K, from 1", {"problem_index": code("""
            def problem_index(a, b, K):
                i, j = min(a, b), max(a, b)
                return i * (K - 1) + j - 1
            """)}, {"test_problem_index": "not i·K"}),
        ("counted from 1", {"problem_index": code("""
            def problem_index(a, b, K):
                i, j = min(a, b), max(a, b)
                return i * K - i * (i + 1) // 2 + (j - i)
            """)}, {"test_problem_index": "count from 0"}),
        ("no-vote samples get class 0", {"vote": code("""
            def vote(winners, K):
                W = np.asarray(winners)
                return np.stack([(W == c).sum(axis=1) for c in range(K)], axis=1).argmax(axis=1)
            """)}, {"test_vote": "return -1 for it"}),
        ("-1 counted as a class", {"vote": code("""
            def vote(winners, K):
                W = np.asarray(winners)
                return np.array([np.bincount(row + 1, minlength=K + 1).argmax() - 1 for row in W])
            """)}, {"test_vote": "as if it were a class"}),
        ("4-byte indices", {"encoded_bytes": code("""
            def encoded_bytes(vector):
                return 8 + 8 * int(np.count_nonzero(vector))
            """)}, {"test_encoded_bytes": "smallest unsigned type"}),
        ("the package's encoder", {"encoded_bytes": code("""
            from tinydtl.papers.globe2train.g2t import encode

            def encoded_bytes(vector):
                return encode(vector).nbytes
            """)}, {"test_encoded_bytes": "tinydtl's own"}),
    ],
    "l10_sweep_grid": [
        ("the standard deviation for the standard error", {"summarise": code("""
            def summarise(table, by, value):
                g = table.groupby(list(by))[value]
                return pd.DataFrame({"mean": g.mean(), "sem": g.std(), "n": g.count()}).reset_index()
            """)}, {"test_summarise": "divides it by sqrt(n)"}),
        ("the lesson's expansion and key: tuple keys, run options hashed", {"expand": code("""
            def expand(grid, fixed=None):
                names = list(grid)
                return [{**(fixed or {}), **dict(zip(names, values))} for values in itertools.product(*grid.values())]
            """), "point_key": code("""
            def point_key(target, parameters, ignore=()):
                blob = json.dumps({"target": target, "parameters": parameters}, sort_keys=True, separators=(",", ":"))
                return hashlib.sha256(blob.encode()).hexdigest()[:16]
            """)}, {"test_expand": "its own entry", "test_point_key": "leave the names in `ignore` out"}),
        ("first key fastest, unsorted keys, ddof=0", {"expand": code("""
            def expand(grid, fixed=None):
                keys = list(grid)[::-1]
                out = []
                for values in itertools.product(*[grid[k] for k in keys]):
                    p = dict(fixed or {})
                    for k, v in zip(keys, values):
                        p.update(zip(k, v) if isinstance(k, tuple) else {k: v})
                    out.append(p)
                return out
            """), "point_key": code("""
            def point_key(target, parameters, ignore=()):
                kept = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in parameters.items() if k not in ignore}
                blob = json.dumps({"target": target, "parameters": kept}, separators=(",", ":"))
                return hashlib.sha256(blob.encode()).hexdigest()[:16]
            """), "summarise": code("""
            def summarise(table, by, value):
                g = table.groupby(list(by))[value]
                return pd.DataFrame({"mean": g.mean(), "sem": g.std(ddof=0) / np.sqrt(g.count()), "n": g.count()}).reset_index()
            """)}, {"test_expand": "LAST key varies fastest", "test_point_key": "sort_keys", "test_summarise": "ddof=1"}),
        ("linked names as separate axes, fixed dropped; numpy left as is", {"expand": code("""
            def expand(grid, fixed=None):
                axes = {}
                for k, v in grid.items():
                    if isinstance(k, tuple):
                        for i, name in enumerate(k):
                            axes[name] = [t[i] for t in v]
                    else:
                        axes[k] = v
                return [dict(zip(axes, vals)) for vals in itertools.product(*axes.values())]
            """), "point_key": code("""
            def point_key(target, parameters, ignore=()):
                kept = {k: v for k, v in parameters.items() if k not in ignore}
                blob = json.dumps({"target": target, "parameters": kept}, sort_keys=True, separators=(",", ":"))
                return hashlib.sha256(blob.encode()).hexdigest()[:16]
            """)}, {"test_expand": "vary TOGETHER", "test_point_key": "json cannot write numpy values"}),
        ("fixed entries dropped, numpy as strings", {"expand": code("""
            def expand(grid, fixed=None):
                out = []
                for values in itertools.product(*grid.values()):
                    p = {}
                    for k, v in zip(grid, values):
                        p.update(zip(k, v) if isinstance(k, tuple) else {k: v})
                    out.append(p)
                return out
            """), "point_key": code("""
            def point_key(target, parameters, ignore=()):
                kept = {k: v for k, v in parameters.items() if k not in ignore}
                blob = json.dumps({"target": target, "parameters": kept}, sort_keys=True, separators=(",", ":"), default=str)
                return hashlib.sha256(blob.encode()).hexdigest()[:16]
            """)}, {"test_expand": "fixed entries", "test_point_key": "became a string"}),
        ("Python's hash", {"point_key": code("""
            def point_key(target, parameters, ignore=()):
                return hash((target, tuple(sorted(parameters.items()))))
            """)}, {"test_point_key": "hex digits"}),
        ("ignored names popped from the caller's dict", {"point_key": code("""
            def point_key(target, parameters, ignore=()):
                for k in ignore:
                    parameters.pop(k, None)
                kept = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in parameters.items()}
                blob = json.dumps({"target": target, "parameters": kept}, sort_keys=True, separators=(",", ":"))
                return hashlib.sha256(blob.encode()).hexdigest()[:16]
            """)}, {"test_point_key": "caller's parameters"}),
        ("groups in the index", {"summarise": code("""
            def summarise(table, by, value):
                g = table.groupby(list(by))[value]
                return pd.DataFrame({"mean": g.mean(), "sem": g.sem(), "n": g.count()})
            """)}, {"test_summarise": "reset_index"}),
    ],
    "l11_privacy": [
        ("noise without the clip, divided by the count", {"clip_and_noise": code("""
            def clip_and_noise(updates, clip, noise_multiplier, expected_clients, rng):
                sums = None
                for layers in updates:
                    norm = np.sqrt(sum(float(np.sum(np.square(a))) for a in layers))
                    s = min(1.0, clip / norm)
                    sums = [a * s for a in layers] if sums is None else [t + a * s for t, a in zip(sums, layers)]
                return [(t + rng.normal(0, noise_multiplier, size=t.shape)) / expected_clients for t in sums]
            """)}, {"test_noise": "σ/C"}),
        ("the lesson's layout and sign, np.clip, one round unsampled", {"invert": code("""
            def invert(update, n_features, n_classes):
                update = np.asarray(update, dtype=float)
                grad_W = update[: n_features * n_classes].reshape(n_features, n_classes)
                grad_b = update[n_features * n_classes :]
                k = int(np.argmax(np.abs(grad_b)))
                return grad_W[:, k] / grad_b[k], int(np.argmin(grad_b))
            """), "clip_and_noise": code("""
            def clip_and_noise(updates, clip, noise_multiplier, expected_clients, rng):
                sums = [sum(np.clip(c[l], -clip, clip) for c in updates) for l in range(len(updates[0]))]
                return [(t + rng.normal(0, noise_multiplier * clip, size=t.shape)) / expected_clients for t in sums]
            """), "epsilon": code("""
            def epsilon(q, noise_multiplier, rounds, delta):
                event = dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(noise_multiplier), rounds)
                return rdp.RdpAccountant().compose(event).get_epsilon(delta)
            """)}, {"test_invert_sample": "take a ROW", "test_invert_label": "−η times the gradient",
                    "test_clipping": "np.clip", "test_epsilon": "PoissonSampledDpEvent"}),
        ("each layer clipped, np.random", {"clip_and_noise": code("""
            def clip_and_noise(updates, clip, noise_multiplier, expected_clients, rng):
                sums = [sum(c[l] * min(1.0, clip / np.linalg.norm(c[l])) for c in updates) for l in range(len(updates[0]))]
                return [(t + np.random.normal(0, noise_multiplier * clip, size=t.shape)) / expected_clients for t in sums]
            """)}, {"test_clipping": "all its layers together", "test_noise": "the rng you were given"}),
        ("column 0 of the right layout, the realised count, PLD, the package's accountant", {"invert": code("""
            def invert(update, n_features, n_classes):
                update = np.asarray(update, dtype=float)
                dW = update[: n_features * n_classes].reshape(n_classes, n_features)
                db = update[n_features * n_classes :]
                return dW[0] / db[0], int(np.argmax(db))
            """), "clip_and_noise": code("""
            def clip_and_noise(updates, clip, noise_multiplier, expected_clients, rng):
                flat = [np.concatenate([np.ravel(a) for a in c]) for c in updates]
                sums = None
                for layers, f in zip(updates, flat):
                    s = min(1.0, clip / np.linalg.norm(f))
                    sums = [a * s for a in layers] if sums is None else [t + a * s for t, a in zip(sums, layers)]
                return [(t + rng.normal(0, noise_multiplier * clip, size=t.shape)) / len(updates) for t in sums]
            """), "epsilon": code("""
            from tinydtl.privacy import epsilon as package_epsilon

            def epsilon(q, noise_multiplier, rounds, delta):
                return package_epsilon(noise_multiplier, q, rounds, delta)
            """)}, {"test_invert_sample": "largest magnitude", "test_clipping": "a constant",
                    "test_noise": "not by the number of updates", "test_epsilon": "compose the dp_accounting events yourself"}),
        ("a row, no division; PLD", {"invert": code("""
            def invert(update, n_features, n_classes):
                update = np.asarray(update, dtype=float)
                dW = update[: n_features * n_classes].reshape(n_classes, n_features)
                db = update[n_features * n_classes :]
                k = int(np.argmax(db))
                return dW[k], k
            """), "epsilon": code("""
            from dp_accounting import pld

            def epsilon(q, noise_multiplier, rounds, delta):
                event = dp_accounting.SelfComposedDpEvent(
                    dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(noise_multiplier)), rounds)
                return pld.PLDAccountant().compose(event).get_epsilon(delta)
            """)}, {"test_invert_sample": "divide by it", "test_epsilon": "RDP accountant"}),
    ],
}
