// The multicast lists the exact filter is fed from: /proc/net/dev_mcast as the kernel prints it
// (net/core/dev_addr_lists.c: "%-4d %-15s %-5d %-5d %*phN").
import { describe, expect, it } from 'vitest';
import { parseDevMcast } from '../../src/control/mc-filter.js';

describe('parseDevMcast', () => {
  it('groups every device\'s addresses, and ignores what is not a line of the table', () => {
    const text = [
      '1    lo              1     0     333300000001',
      '2    eth0            1     0     01005e000001',
      '2    eth0            1     0     333300000001',
      '2    eth0            2     0     3333ff1234ab',
      '17   c1              1     0     01005E010203',
      '',
      'garbage',
    ].join('\n');
    const m = parseDevMcast(text);
    expect([...m.keys()]).toEqual(['lo', 'eth0', 'c1']);
    expect([...m.get('eth0')!]).toEqual(['01:00:5e:00:00:01', '33:33:00:00:00:01', '33:33:ff:12:34:ab']);
    expect([...m.get('c1')!]).toEqual(['01:00:5e:01:02:03']);
    expect(parseDevMcast('').size).toBe(0);
  });
});
