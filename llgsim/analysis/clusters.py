"""Clusters and domains with periodic boundaries, and their size statistics.

A cluster is a connected set of marked sites, two sites being connected when they are nearest
neighbours (shell 1: four on the square, six on the triangular lattice) on the periodic torus;
a domain is a cluster of one sign of an Ising field (llgsim.analysis.order.ising_field). The
labelling is the connected components of the graph of marked nearest-neighbour pairs
(scipy.sparse.csgraph), which needs no special case at the box edges.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def label_clusters(mask, neighbours) -> np.ndarray:
    """(N,) int64 cluster label of each site: -1 where ``mask`` (N,) bool is False, otherwise
    0 .. n-1, numbered by decreasing size (ties by smallest site index). ``neighbours`` (N, z)
    from llgsim.analysis.correlations.nearest_neighbours."""
    mask = np.asarray(mask, dtype=bool)
    n = mask.size
    i = np.repeat(np.arange(n), neighbours.shape[1])
    j = neighbours.ravel()
    keep = mask[i] & mask[j]
    graph = coo_matrix((np.ones(np.count_nonzero(keep), dtype=np.int8), (i[keep], j[keep])),
                       shape=(n, n))
    _, component = connected_components(graph, directed=False)
    sites = np.nonzero(mask)[0]
    ids, first, sizes = np.unique(component[sites], return_index=True, return_counts=True)
    rank = np.empty(ids.size, dtype=np.int64)
    rank[np.lexsort((sites[first], -sizes))] = np.arange(ids.size)  # by size, then first site
    labels = np.full(n, -1, dtype=np.int64)
    labels[sites] = rank[np.searchsorted(ids, component[sites])]
    return labels


def cluster_sizes(labels) -> np.ndarray:
    """(n,) int64 sites of each cluster 0 .. n-1 of a labelling (largest first)."""
    labels = np.asarray(labels)
    return np.bincount(labels[labels >= 0])


def domain_sizes(ising, neighbours) -> np.ndarray:
    """(n,) int64 sizes of all domains of both signs of ``ising`` (N,), largest first."""
    positive = np.asarray(ising) > 0
    sizes = np.concatenate([cluster_sizes(label_clusters(m, neighbours))
                            for m in (positive, ~positive)])
    return np.sort(sizes)[::-1]


def size_distribution(sizes, edges) -> np.ndarray:
    """(B,) float64 number of clusters with size in [edges[b], edges[b+1]) per site-size unit:
    counts / (bin width), so a power law n(s) ~ s^-tau keeps its slope on logarithmic bins."""
    counts, _ = np.histogram(np.asarray(sizes), bins=edges)
    return counts / np.diff(edges)
