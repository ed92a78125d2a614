"""A python3 workload: dicts, lists, strings, sets, objects with cycles, and
threads that build and hand over data, so blocks are freed by threads other
than the ones that allocated them. Prints only deterministic results."""

import gc
import hashlib
import json
import queue
import threading

ROUNDS = 4
ITEMS = 60_000
WORKERS = 4


def loaded():
    with open("/proc/self/maps") as maps:
        return sum("libtinyalloc" in line for line in maps)


def dicts_and_strings(seed):
    table = {f"key-{seed}-{i}": str(i * seed) * (i % 13) for i in range(ITEMS)}
    for i in range(0, ITEMS, 3):
        del table[f"key-{seed}-{i}"]
    joined = "|".join(sorted(table.values(), key=len)[-500:])
    return len(table), hashlib.sha256(joined.encode()).hexdigest()[:16]


def lists_and_sets(seed):
    numbers = [(i * 2654435761 + seed) % 100_003 for i in range(ITEMS)]
    numbers.sort()
    unique = set(numbers)
    nested = [[n] * (n % 5) for n in numbers[:20_000]]
    return len(unique), sum(map(len, nested)), numbers[ITEMS // 2]


class Node:
    def __init__(self, value):
        self.value = value
        self.peer = None


def cycles(seed):
    nodes = [Node(i + seed) for i in range(20_000)]
    for a, b in zip(nodes, nodes[1:] + nodes[:1]):
        a.peer = b
    total = sum(n.peer.value for n in nodes)
    del nodes
    return total, gc.collect() >= 0


def producer(out, seed):
    for i in range(200):
        out.put([f"{seed}:{i}:{j}" * 3 for j in range(100)])
    out.put(None)


def threads():
    channel = queue.Queue(maxsize=32)
    workers = [threading.Thread(target=producer, args=(channel, s)) for s in range(WORKERS)]
    for worker in workers:
        worker.start()
    done = 0
    digest = hashlib.sha256()
    batches = []
    while done < WORKERS:
        batch = channel.get()
        if batch is None:
            done += 1
            continue
        batches.append(len("".join(batch)))
        del batch
    for worker in workers:
        worker.join()
    digest.update(json.dumps(sorted(batches)).encode())
    return len(batches), digest.hexdigest()[:16]


def main():
    print(f"tinyalloc-loaded: {loaded()}")
    for seed in range(1, ROUNDS + 1):
        print("dicts", seed, *dicts_and_strings(seed))
        print("lists", seed, *lists_and_sets(seed))
        print("cycles", seed, *cycles(seed))
        print("threads", seed, *threads())
    blob = json.dumps({str(i): list(range(i % 50)) for i in range(20_000)})
    print("json", len(blob), len(json.loads(blob)))


main()
