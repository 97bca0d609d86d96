import { metricsGroups, taskFilters } from '../src/task-filters';

describe('Tasks.Metrics filters', () => {
  it('names each task once, quoting ids outside the bare filter syntax', () => {
    expect(taskFilters(['abc', 'abc', 'd-e.f'])).toEqual(['id==abc', 'id==d-e.f']);
    expect(taskFilters(['a b'])).toEqual(['id=="a b"']);
  });

  it('splits many tasks into up to 4 disjoint groups of at least 16, covering each task once', () => {
    const ids = (n: number): string[] => Array.from({ length: n }, (_v, i) => `t${i}`);
    expect(metricsGroups([])).toEqual([]);
    expect(metricsGroups(ids(31)).map((g) => g.length)).toEqual([31]);
    expect(metricsGroups(ids(32)).map((g) => g.length)).toEqual([16, 16]);
    expect(metricsGroups(ids(100)).map((g) => g.length)).toEqual([25, 25, 25, 25]);
    expect(metricsGroups(ids(1000)).map((g) => g.length)).toEqual([250, 250, 250, 250]);
    const all = metricsGroups(ids(101)).flat();
    expect(new Set(all).size).toBe(101);
    expect(all.length).toBe(101);
  });
});
