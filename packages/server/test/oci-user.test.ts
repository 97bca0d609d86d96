import { mergeGids, parseGroup, parsePasswd, parseUserSpec, resolveUser, userFromSecurityContext } from '../src/oci/user';
import { invalid } from './expect-status';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
# a comment

daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
broken line
bad:x:notanumber:1::/:/bin/sh
`;

const GROUP = `root:x:0:
daemon:x:1:
app:x:1000:app
staff:x:50:app,other
audio:x:29: other , app
video:x:44:
nogroup:x:65534:
`;

const FILES = { passwd: PASSWD, group: GROUP };

describe('user parsing', () => {
  it.each([
    ['', { user: '0' }],
    ['1000', { user: '1000' }],
    ['1000:2000', { user: '1000', group: '2000' }],
    ['app', { user: 'app' }],
    ['app:staff', { user: 'app', group: 'staff' }],
    [' app ', { user: 'app' }],
  ])('splits %j', (spec, expected) => {
    expect(parseUserSpec(spec)).toEqual(expected);
  });

  it.each([
    ['a:b:c', /expected user, user:group/],
    [':1000', /empty user part/],
    ['1000:', /empty group part/],
    ['4294967295', /out of range/],
    ['1:99999999999', /out of range/],
  ])('rejects %j', (spec, message) => {
    expect(invalid(() => parseUserSpec(spec))).toMatch(message);
  });

  it('parses /etc/passwd, skipping comments and malformed lines', () => {
    expect(parsePasswd(PASSWD).map((e) => e.name)).toEqual(['root', 'daemon', 'app', 'nobody']);
    expect(parsePasswd(PASSWD)[2]).toEqual({ name: 'app', uid: 1000, gid: 1000, home: '/home/app', shell: '/bin/sh' });
  });

  it('parses /etc/group with member lists', () => {
    const groups = parseGroup(GROUP);
    expect(groups.find((g) => g.name === 'staff')).toEqual({ name: 'staff', gid: 50, members: ['app', 'other'] });
    expect(groups.find((g) => g.name === 'audio')?.members).toEqual(['other', 'app']);
    expect(groups.find((g) => g.name === 'video')?.members).toEqual([]);
  });

  it('merges gid lists sorted and unique', () => {
    expect(mergeGids([5, 1], [3, 5], [])).toEqual([1, 3, 5]);
  });
});

describe('resolveUser', () => {
  it.each<[string, object]>([
    ['', { uid: 0, gid: 0, additionalGids: [0], username: 'root' }],
    ['0', { uid: 0, gid: 0, additionalGids: [0] }],
    ['app', { uid: 1000, gid: 1000, additionalGids: [29, 50, 1000], username: 'app', home: '/home/app' }],
    ['1000', { uid: 1000, gid: 1000, additionalGids: [29, 50, 1000], username: 'app' }],
    ['1000:44', { uid: 1000, gid: 44, additionalGids: [29, 44, 50] }],
    ['app:video', { uid: 1000, gid: 44, additionalGids: [29, 44, 50] }],
    ['1000:staff', { uid: 1000, gid: 50, additionalGids: [29, 50] }],
    ['4242', { uid: 4242, gid: 0, additionalGids: [0] }],
    ['4242:4242', { uid: 4242, gid: 4242, additionalGids: [4242] }],
    ['nobody', { uid: 65534, gid: 65534, additionalGids: [65534] }],
  ])('%j with /etc/passwd and /etc/group', (spec, expected) => {
    expect(resolveUser(spec, FILES)).toMatchObject(expected);
  });

  it.each<[string, object]>([
    ['', { uid: 0, gid: 0, additionalGids: [0] }],
    ['65535:65535', { uid: 65535, gid: 65535, additionalGids: [65535] }],
    ['1000', { uid: 1000, gid: 0, additionalGids: [0] }],
  ])('%j without files (numeric ids need none)', (spec, expected) => {
    expect(resolveUser(spec)).toEqual(expected);
  });

  it.each([
    ['ghost', FILES, /unable to find user "ghost": no matching entry in the image's \/etc\/passwd/],
    ['app:ghosts', FILES, /unable to find group "ghosts": no matching entry in the image's \/etc\/group/],
    ['app', {}, /unable to find user "app": the image has no \/etc\/passwd/],
    ['1000:staff', { passwd: PASSWD }, /unable to find group "staff": the image has no \/etc\/group/],
  ])('rejects %j', (spec, files, message) => {
    expect(invalid(() => resolveUser(spec, files))).toMatch(message);
  });
});

describe('userFromSecurityContext', () => {
  const sc = (p: { runAsUser?: bigint; runAsGroup?: bigint; runAsUsername?: string; supplementalGroups?: bigint[] }) => ({
    ...(p.runAsUser !== undefined ? { runAsUser: { value: p.runAsUser } } : {}),
    ...(p.runAsGroup !== undefined ? { runAsGroup: { value: p.runAsGroup } } : {}),
    ...(p.runAsUsername !== undefined ? { runAsUsername: p.runAsUsername } : {}),
    supplementalGroups: p.supplementalGroups ?? [],
  });

  it('uses the image user without a CRI user', () => {
    expect(userFromSecurityContext(sc({}), '65535:65535')).toMatchObject({ uid: 65535, gid: 65535 });
    expect(userFromSecurityContext(sc({}), undefined)).toMatchObject({ uid: 0, gid: 0 });
  });

  it('run_as_user overrides the image user; its group comes from /etc/passwd or 0', () => {
    expect(userFromSecurityContext(sc({ runAsUser: 1000n }), 'nobody', FILES)).toMatchObject({ uid: 1000, gid: 1000 });
    expect(userFromSecurityContext(sc({ runAsUser: 1234n }), '65535:65535')).toMatchObject({ uid: 1234, gid: 0 });
  });

  it('run_as_group sets the primary group', () => {
    expect(userFromSecurityContext(sc({ runAsUser: 1000n, runAsGroup: 3000n }), undefined, FILES)).toMatchObject({
      uid: 1000,
      gid: 3000,
      additionalGids: [29, 50, 3000],
    });
    expect(userFromSecurityContext(sc({ runAsUsername: 'app', runAsGroup: 3000n }), undefined, FILES)).toMatchObject({ uid: 1000, gid: 3000 });
  });

  it('adds supplemental groups', () => {
    expect(userFromSecurityContext(sc({ runAsUser: 5n, supplementalGroups: [200n, 100n] }), undefined)).toEqual({
      uid: 5,
      gid: 0,
      additionalGids: [0, 100, 200],
    });
  });

  it('resolves run_as_username', () => {
    expect(userFromSecurityContext(sc({ runAsUsername: 'app' }), undefined, FILES)).toMatchObject({ uid: 1000, gid: 1000 });
  });

  it.each([
    [{ runAsGroup: 10n }, /run_as_group 10 is set without run_as_user/],
    [{ runAsUser: 1n, runAsUsername: 'app' }, /cannot both be set/],
    [{ runAsUser: -1n }, /run_as_user must be between 0 and 4294967294/],
    [{ runAsUser: 1n, runAsGroup: 1n << 40n }, /run_as_group must be between/],
    [{ runAsUser: 1n, supplementalGroups: [-3n] }, /supplemental_groups must be between/],
  ])('rejects %p', (p, message) => {
    expect(invalid(() => userFromSecurityContext(sc(p), undefined, FILES))).toMatch(message);
  });
});
