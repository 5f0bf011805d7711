// Drives two Cairn nodes' Kubo RPC APIs (/api/v0) with the npm kubo-rpc-client, the client
// tools written for Kubo use, and prints what each call answered as one JSON object on
// stdout. tests/kubo_rpc.rs starts the nodes, runs this and checks the answers against
// Kubo's reference CIDs (tests/vectors/unixfs) and the bytes it wrote.
//
//   node driver.mjs <api-url-a> <token-a> <api-url-b> <token-b> <swarm-addr-b> <input-dir>
//
// <input-dir> holds the files to add: one-chunk-plus-one.bin (262145 bytes), v1.bin
// (1048577 bytes) and the nested directory's root/a.txt, root/sub/b.bin,
// root/sub/deeper/c.bin. A failing call is recorded as {"error": message}, so the Rust side
// asserts on every outcome, including the errors Kubo's clients must be able to read.
import { create, CID } from 'kubo-rpc-client'
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'

const [apiA, tokenA, apiB, tokenB, swarmB, inputs] = process.argv.slice(2)
const a = create({ url: `${apiA}/api/v0`, headers: { authorization: `Bearer ${tokenA}` } })
const b = create({ url: `${apiB}/api/v0`, headers: { authorization: `Bearer ${tokenB}` } })
const read = (name) => readFileSync(join(inputs, name))
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')

async function collect (iterable) {
  const chunks = []
  for await (const chunk of iterable) chunks.push(chunk)
  return Buffer.concat(chunks)
}

async function all (iterable) {
  const out = []
  for await (const item of iterable) out.push(item)
  return out
}

async function attempt (fn) {
  try {
    return await fn()
  } catch (err) {
    return { error: err.message ?? String(err), status: err.response?.status ?? null }
  }
}

const report = {}

const id = await a.id()
report.id = { id: id.id.toString(), agent: id.agentVersion, addresses: (id.addresses ?? []).map(String) }
report.version = (await a.version()).version

// add: Kubo's defaults (CIDv0), Cairn's unixfs-v1-2025 profile, CIDv1 flags, progress.
const file = read('one-chunk-plus-one.bin')
const progress = []
const added = await a.add(file, { progress: (bytes) => progress.push(bytes) })
report.add_default = { cid: added.cid.toString(), size: added.size, path: added.path, progress }
report.add_v1 = (await a.add(read('v1.bin'), { profile: 'unixfs-v1-2025' })).cid.toString()
report.add_cidv1 = (await a.add(Buffer.from('x'), { cidVersion: 1 })).cid.toString()
report.add_only_hash = (await a.add(Buffer.from('not stored'), { onlyHash: true })).cid.toString()

const tree = [
  { path: 'root/a.txt', content: read('root/a.txt') },
  { path: 'root/sub/b.bin', content: read('root/sub/b.bin') },
  { path: 'root/sub/deeper/c.bin', content: read('root/sub/deeper/c.bin') },
  { path: 'root/empty' }
]
const entries = await all(a.addAll(tree))
report.add_tree = entries.map((e) => ({ path: e.path, cid: e.cid.toString() }))
const root = entries[entries.length - 1].cid

// Reads: cat (whole, ranged, through a path), ls, get, block stat.
report.cat_sha256 = sha256(await collect(a.cat(added.cid)))
report.cat_range = [...await collect(a.cat(`/ipfs/${root}/sub/deeper/c.bin`, { offset: 10, length: 5 }))]
report.ls = (await all(a.ls(root))).map((e) => ({ name: e.name, type: e.type, size: e.size, cid: e.cid.toString() }))
report.get_bytes = (await collect(a.get(root))).length
report.block_stat = await a.block.stat(added.cid).then((s) => ({ cid: s.cid.toString(), size: s.size }))

// Blocks.
const put = await a.block.put(Buffer.from('a block from kubo-rpc-client'))
report.block_put = put.toString()
report.block_get = Buffer.from(await a.block.get(put)).toString()

// Pins: listed, removed, listed again, re-added.
report.pins_before = (await all(a.pin.ls({ type: 'recursive' }))).map((p) => p.cid.toString()).sort()
report.pin_rm = (await a.pin.rm(added.cid)).toString()
report.pins_after = (await all(a.pin.ls({ type: 'recursive' }))).map((p) => p.cid.toString()).sort()
report.pin_rm_again = await attempt(() => a.pin.rm(added.cid))
report.pin_add = (await a.pin.add(root)).toString()

// GC removes the unpinned file's blocks; repo stat and stats bw answer in Kubo's fields.
report.gc = (await all(a.repo.gc())).map((r) => (r.cid ? r.cid.toString() : `error: ${r.err}`))
report.cat_after_gc = await attempt(async () => (await collect(a.cat(added.cid, { offline: true }))).length)
const stat = await a.repo.stat()
report.repo_stat = { numObjects: Number(stat.numObjects), repoSize: Number(stat.repoSize), version: stat.version }
const [bw] = await all(a.stats.bw())
report.stats_bw = { totalIn: Number(bw.totalIn), totalOut: Number(bw.totalOut) }

// A DAG moved as a CAR: exported from A, imported into B.
const car = await collect(a.dag.export(root))
report.dag_import = (await all(b.dag.import([car]))).map((r) => r.root.cid.toString())
report.b_cat_sha256 = sha256(await collect(b.cat(`${root}/sub/deeper/c.bin`, { offline: true })))

// The network: A dials B, sees it, provides, B finds A, A hangs up.
report.swarm_connect = await a.swarm.connect(swarmB)
report.swarm_peers = (await a.swarm.peers()).map((p) => p.peer.toString())
report.provide = await attempt(async () => (await all(a.routing.provide(root))).length)
report.findprovs = await attempt(async () => {
  const found = []
  for await (const event of b.routing.findProvs(root)) {
    if (event.name === 'PROVIDER') found.push(...event.providers.map((p) => p.id.toString()))
  }
  return found
})
// B reads a file only A has, over Bitswap: A's bandwidth counters see it leave.
report.b_cat_v1_sha256 = sha256(await collect(b.cat(report.add_v1)))
const [bwAfter] = await all(a.stats.bw())
report.stats_bw_after = { totalIn: Number(bwAfter.totalIn), totalOut: Number(bwAfter.totalOut) }
report.swarm_disconnect = await a.swarm.disconnect(swarmB)
// The connection closes in the background: wait for it, a bounded number of times.
for (let i = 0; i < 100; i++) {
  report.swarm_peers_after = (await a.swarm.peers()).map((p) => p.peer.toString())
  if (report.swarm_peers_after.length === 0) break
  await new Promise((resolve) => setTimeout(resolve, 50))
}

// Errors a Kubo client must be able to read.
const absent = CID.parse('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')
report.cat_absent_offline = await attempt(() => collect(a.cat(absent, { offline: true })))
const anonymous = create({ url: `${apiA}/api/v0` })
report.add_without_token = await attempt(() => anonymous.add(Buffer.from('refused')))
report.id_anonymous = (await anonymous.id()).id.toString()

console.log(JSON.stringify(report))
