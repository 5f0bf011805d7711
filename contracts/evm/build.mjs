// Compiles the contracts in src/ with solc-js (the exact version pinned in package.json) and
// writes each one's ABI and bytecode to artifacts/<Name>.json, the files the Rust bindings
// (src/chain/contract.rs) are generated from.
//
//   node build.mjs           write artifacts/
//   node build.mjs --check   exit 1 if the committed artifacts differ from a fresh compile
//
// The compile is deterministic: same sources, same compiler, same settings give the same
// bytes (the metadata hash at the end of the bytecode covers the sources and settings), so
// `--check` proves the committed bytecode is what these sources compile to.

import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const solc = require("solc");

const here = dirname(fileURLToPath(import.meta.url));
const CONTRACTS = ["CairnChannels", "TestToken"];

// Settings are part of the reproducible build: change them and the artifacts change.
// Cancun is the EVM that current mainnets and anvil's default hardfork all run.
const SETTINGS = {
  optimizer: { enabled: true, runs: 10000 },
  evmVersion: "cancun",
  outputSelection: {
    "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
  },
};

function findImports(path) {
  // "@openzeppelin/contracts/..." resolves inside node_modules; nothing else is imported.
  const file = join(here, "node_modules", path);
  if (!existsSync(file)) return { error: `not found: ${path}` };
  return { contents: readFileSync(file, "utf8") };
}

function compile() {
  const sources = {};
  for (const name of CONTRACTS) {
    sources[`src/${name}.sol`] = { content: readFileSync(join(here, "src", `${name}.sol`), "utf8") };
  }
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const problems = output.errors ?? [];
  for (const p of problems) process.stderr.write(`${p.formattedMessage ?? p.message}\n`);
  // An error stops the build; so does a warning in our own sources (dependencies are not ours).
  const fatal = problems.filter(
    (p) => p.severity === "error" || (p.sourceLocation?.file ?? "").startsWith("src/"),
  );
  if (fatal.length > 0) {
    process.stderr.write(`build failed: ${fatal.length} error(s) or warning(s) in src/\n`);
    process.exit(2);
  }
  const artifacts = {};
  for (const name of CONTRACTS) {
    const source = `src/${name}.sol`;
    const c = output.contracts[source][name];
    const artifact = {
      contractName: name,
      sourceName: source,
      compiler: { version: solc.version(), settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion } },
      abi: c.abi,
      bytecode: `0x${c.evm.bytecode.object}`,
      deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
    };
    artifacts[`artifacts/${name}.json`] = `${JSON.stringify(artifact, null, 2)}\n`;
  }
  return artifacts;
}

const check = process.argv.includes("--check");
const artifacts = compile();
let differ = 0;
for (const [path, text] of Object.entries(artifacts)) {
  const file = join(here, path);
  if (check) {
    const committed = existsSync(file) ? readFileSync(file, "utf8") : null;
    if (committed !== text) {
      process.stderr.write(`${path}: ${committed === null ? "missing" : "differs from a fresh compile"}\n`);
      differ += 1;
    }
  } else {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    process.stdout.write(`wrote ${path}\n`);
  }
}
if (check) {
  if (differ > 0) {
    process.stderr.write(`run \`node build.mjs\` in contracts/evm and commit artifacts/\n`);
    process.exit(1);
  }
  process.stdout.write(`artifacts match a fresh compile (${solc.version()})\n`);
}
