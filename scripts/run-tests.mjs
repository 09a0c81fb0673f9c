#!/usr/bin/env node
// Runs every test file under test/ with node's test runner through tsx. Node 20's --test neither
// expands globs nor finds .ts files by itself, so the list is made here. Extra arguments (file
// paths or runner flags) are passed on: `npm run test:only -- test/unit/errors.test.ts`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'fixtures' ? [] : find(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));
const list = files.length ? files : find('test').sort();
if (list.length === 0) {
  console.error('no test files found under test/');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...flags, ...list], { stdio: 'inherit' });
process.exit(result.status ?? 1);
