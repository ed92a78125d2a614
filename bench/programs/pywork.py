"""Python workload for the LD_PRELOAD runs (use with PYTHONMALLOC=malloc so
that every object goes through the allocator under test): dicts, strings,
lists, small objects with cycles, json round trips, and a worker thread
that builds data the main thread frees.  SCALE (argv[1]) sets the size."""

import gc
import json
import sys
import threading

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ITEMS = int(100_000 * SCALE)


def dicts_and_strings(seed):
    table = {f"k{seed}-{i}": str(i * seed) * (i % 9) for i in range(ITEMS)}
    for i in range(0, ITEMS, 3):
        del table[f"k{seed}-{i}"]
    return len("".join(sorted(table.values(), key=len)[-1000:]))


def lists(seed):
    numbers = [(i * 2654435761 + seed) % 1_000_003 for i in range(ITEMS)]
    numbers.sort()
    nested = [[n] * (n % 7) for n in numbers[: ITEMS // 2]]
    return sum(map(len, nested)) + len(set(numbers))


class Node:
    __slots__ = ("value", "peer")

    def __init__(self, value):
        self.value = value
        self.peer = None


def cycles(seed):
    nodes = [Node(i + seed) for i in range(ITEMS // 2)]
    for a, b in zip(nodes, nodes[1:] + nodes[:1]):
        a.peer = b
    total = sum(n.peer.value for n in nodes)
    del nodes
    gc.collect()
    return total


def json_round_trip(seed):
    records = [
        {"id": i, "name": f"item-{i}", "tags": [str(seed), str(i % 10)]}
        for i in range(ITEMS // 4)
    ]
    return len(json.loads(json.dumps(records)))


def handed_over(seed, out):
    out.append([{"n": i, "s": str(i)} for i in range(ITEMS // 2)])


def main():
    total = 0
    for seed in range(1, 4):
        total += dicts_and_strings(seed) + lists(seed) + cycles(seed)
        total += json_round_trip(seed)
        out = []
        worker = threading.Thread(target=handed_over, args=(seed, out))
        worker.start()
        worker.join()
        total += len(out[0])
        del out
    print(total)


main()
