import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { traceCsvChunks } from '../../src/shared/traceCsv';

test('CSV export: one row per block, head, query and key, with exact weights and quoted tokens', async () => {
  const trace = await new ExplainEngine().explain('a,"b', { model: 'builtin:tiny-decoder' });
  const lines = [...traceCsvChunks(trace)].join('').trimEnd().split('\r\n');
  assert.equal(lines[0], 'block,layer,kind,head,query,key,query_token,key_token,weight,allowed');
  const block = trace.blocks[0];
  assert.equal(lines.length - 1, trace.blocks.reduce((sum, b) => sum + b.heads * b.queries * b.keys, 0));
  // Row of block 0, head 1, query 3 ("b"), key 1 (","): quoted because of the comma.
  const row = lines.find((line) => line.startsWith('0,0,decoder-self,1,3,1,'))!;
  assert.ok(row, 'row present');
  const fields = row.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/);
  assert.equal(fields[6], 'b');
  assert.equal(fields[7], '","');
  assert.equal(Math.fround(Number(fields[8])), block.probs[(1 * block.queries + 3) * block.keys + 1]);
  assert.equal(fields[9], '1');
  const future = lines.find((line) => line.startsWith('0,0,decoder-self,0,0,2,'))!;
  assert.match(future, /,0,0$/, 'a future key: weight 0, not allowed');
  const quoteRow = lines.find((line) => line.startsWith('0,0,decoder-self,0,2,2,'))!;
  assert.match(quoteRow, /,"""",""""/, 'a quote is doubled inside quotes');
});
