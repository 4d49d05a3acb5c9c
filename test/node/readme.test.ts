// Every complete JavaScript example in README.md (a ```js block that imports 'pcpress') must run as written.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)]
  .map((m) => m[1])
  .filter((code) => /^import .* from 'pcpress';$/m.test(code));

describe('README examples', () => {
  it('has runnable examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });
  blocks.forEach((code, i) => {
    const title = code.split('\n').find((l) => l.trim() && !l.startsWith('import'))?.slice(0, 60) ?? `block ${i}`;
    it(`block ${i + 1}: ${title}`, () => {
      // Inside the package folder, so 'pcpress' resolves to this build through package.json "exports".
      const dir = path.join(root, '.cache', 'readme');
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `block-${i + 1}.mjs`);
      fs.writeFileSync(file, `${code}\nif (typeof rt !== 'undefined' && !rt.impl.destroyed) rt.destroy();\n`);
      execFileSync('node', [file], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    });
  });
});
