// Reference UnixFS CIDs from Helia (@helia/unixfs over ipfs-unixfs-importer) for the
// IPIP-0499 profiles. Cairn's tests (src/content/vectors.rs) rebuild every input from the
// description below and must reach the same root CID.
//
//   npm ci && PATH=$PWD/node_modules/.bin:$PATH node make-vectors.mjs > vectors.json
//
// Inputs:
//   bytes(n):   byte i = (i * 31 + 7) % 251
//   dirs:       entries named entryName(i, width), content = utf8("content of entry <i>")
import { unixfs } from '@helia/unixfs'
import { MemoryBlockstore } from 'blockstore-core'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { readFileSync } from 'node:fs'

const fs = unixfs({ blockstore: new MemoryBlockstore() })
const bytes = (n) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) % 251)
const entryName = (i, width) => `entry-${String(i).padStart(6, '0')}-`.padEnd(width, 'x')
const content = (i) => new TextEncoder().encode(`content of entry ${i}`)

const profiles = {
  'unixfs-v1-2025': { chunk: 1024 * 1024, width: 1024, cidVersion: 1, rawLeaves: true, shardSplitStrategy: 'block-bytes' },
  'unixfs-v0-2015': { chunk: 256 * 1024, width: 174, cidVersion: 0, rawLeaves: false, shardSplitStrategy: 'links-bytes' }
}

// @helia/unixfs fills in its own defaults (CIDv1, raw leaves) before the importer sees
// `profile`, so every parameter of the profile is spelled out.
function optionsFor (profile, chunkSize) {
  const p = profiles[profile]
  return {
    profile,
    cidVersion: p.cidVersion,
    rawLeaves: p.rawLeaves,
    reduceSingleLeafToSelf: true,
    shardSplitStrategy: p.shardSplitStrategy,
    shardSplitThresholdBytes: 262144,
    chunker: fixedSize({ chunkSize: chunkSize ?? p.chunk }),
    layout: balanced({ maxChildrenPerNode: p.width })
  }
}

async function file (profile, len, chunkSize) {
  return (await fs.addBytes(bytes(len), optionsFor(profile, chunkSize))).toString()
}

async function flatDir (profile, count, width) {
  const entries = Array.from({ length: count }, (_, i) => ({ path: `d/${entryName(i, width)}`, content: content(i) }))
  let last
  for await (const entry of fs.addAll(entries, optionsFor(profile))) last = entry
  const stat = await fs.stat(last.cid)
  return { cid: last.cid.toString(), sharded: stat.unixfs?.type === 'hamt-sharded-directory' }
}

const cases = []
for (const [profile, { chunk, width }] of Object.entries(profiles)) {
  const small = 1024
  const fileCases = [
    ['empty', 0, null], ['one byte', 1, null], ['exactly one chunk', chunk, null],
    ['one chunk + 1', chunk + 1, null],
    [`${width} chunks (size-${small})`, width * small, small],
    [`${width} chunks + 1 byte (size-${small})`, width * small + 1, small],
    ...(width === 1024 ? [] : [[`1024 chunks (size-${small})`, 1024 * small, small], [`1024 chunks + 1 byte (size-${small})`, 1024 * small + 1, small]])
  ]
  if (profile === 'unixfs-v0-2015') fileCases.push([`${width}^2 + 1 chunks (size-256)`, (width * width + 1) * 256, 256])
  for (const [name, len, chunkSize] of fileCases) {
    cases.push({ kind: 'file', name, profile, len, chunk_size: chunkSize, cid: await file(profile, len, chunkSize) })
  }

  const nested = [
    { path: 'root/a.txt', content: new TextEncoder().encode('alpha') },
    { path: 'root/sub/b.bin', content: bytes(3000) },
    { path: 'root/sub/deeper/c.bin', content: bytes(70000) },
    { path: 'root/empty' }
  ]
  let root
  for await (const entry of fs.addAll(nested, optionsFor(profile))) root = entry
  cases.push({ kind: 'nested', name: 'nested directory', profile, cid: root.cid.toString() })

  // Find the entry count where the flat directory first becomes a HAMT shard.
  const nameWidth = 100
  let lo = 1; let hi = 8000
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((await flatDir(profile, mid, nameWidth)).sharded) hi = mid
    else lo = mid + 1
  }
  for (const count of [lo - 1, lo]) {
    const { cid, sharded } = await flatDir(profile, count, nameWidth)
    cases.push({ kind: 'flat', name: sharded ? 'just over the HAMT threshold' : 'just under the HAMT threshold', profile, count, name_width: nameWidth, sharded, cid })
  }
}
const version = (pkg) => JSON.parse(readFileSync(`node_modules/${pkg}/package.json`, 'utf8')).version
const generator = `@helia/unixfs ${version('@helia/unixfs')}, ipfs-unixfs-importer ${version('ipfs-unixfs-importer')}`
console.log(JSON.stringify({ generator, cases }, null, 2))
