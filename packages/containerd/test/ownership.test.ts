import { OWNER_LABEL, OWNER_VALUE, isOwnedByCrisp, ownedLabels } from '../src';

describe('ownership labels', () => {
  it('stamps the owner label on top of extra labels', () => {
    expect(OWNER_LABEL).toBe('io.crisp.owner');
    expect(OWNER_VALUE).toBe('crisp');
    expect(ownedLabels()).toEqual({ 'io.crisp.owner': 'crisp' });
    expect(ownedLabels({ a: 'b', [OWNER_LABEL]: 'someone-else' })).toEqual({ a: 'b', 'io.crisp.owner': 'crisp' });
  });

  it('recognises only crisp-owned objects', () => {
    expect(isOwnedByCrisp(ownedLabels({ x: 'y' }))).toBe(true);
    expect(isOwnedByCrisp({ 'io.cri-containerd.kind': 'container' })).toBe(false);
    expect(isOwnedByCrisp({ 'io.crisp.owner': 'other' })).toBe(false);
    expect(isOwnedByCrisp({})).toBe(false);
    expect(isOwnedByCrisp(undefined)).toBe(false);
    expect(isOwnedByCrisp(null)).toBe(false);
  });
});
