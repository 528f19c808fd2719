# Reference solution for notebooks/assignments/a1_metropolis_consensus.ipynb (lecturers' copy).
def metropolis(G):
    n = G.number_of_nodes()
    W = np.zeros((n, n))
    for i, j in G.edges():
        W[i, j] = W[j, i] = 1.0 / (1 + max(G.degree(i), G.degree(j)))
    W[np.diag_indices(n)] = 1.0 - W.sum(axis=1)
    return W


def predicted_rate(G):
    ev = np.linalg.eigvalsh(metropolis(G))
    return max(abs(ev[0]), abs(ev[-2]))
