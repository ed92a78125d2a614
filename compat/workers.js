// A node workload with worker_threads: workers build objects, strings and
// typed arrays and post them back; the main thread checks the results.
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const fs = require('fs');

const WORKERS = 4;
const ROUNDS = 3;

function work(seed) {
  const map = new Map();
  for (let i = 0; i < 50000; i++) map.set(`k${seed}-${i}`, { i, s: String(i * seed).repeat(i % 7) });
  let chars = 0;
  for (const value of map.values()) chars += value.s.length;
  const buffer = new Float64Array(200000).map((_, i) => (i * seed) % 1009);
  const sum = buffer.reduce((a, b) => a + b, 0);
  const json = JSON.stringify([...map.entries()].slice(0, 5000));
  return { seed, size: map.size, chars, sum, json: json.length };
}

function runWorker(seed) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: seed });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => code === 0 || reject(new Error(`worker exit ${code}`)));
  });
}

async function main() {
  const maps = fs.readFileSync('/proc/self/maps', 'utf8');
  console.log(`tinyalloc-loaded: ${maps.split('\n').filter((l) => l.includes('libtinyalloc')).length}`);
  for (let round = 0; round < ROUNDS; round++) {
    const seeds = Array.from({ length: WORKERS }, (_, i) => round * WORKERS + i + 1);
    const results = await Promise.all(seeds.map(runWorker));
    for (const r of results) console.log(`round ${round} seed ${r.seed}: ${r.size} ${r.chars} ${r.sum} ${r.json}`);
  }
}

if (isMainThread) {
  main().catch((error) => { console.error(error); process.exit(1); });
} else {
  parentPort.postMessage(work(workerData));
}
