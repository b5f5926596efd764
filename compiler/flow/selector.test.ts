import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatSelector, parseSelector, type Requirement } from './index.js';

const req = (key: string, operator: Requirement['operator'], values: string[] = []): Requirement => ({ key, operator, values });

describe('parseSelector: valid', () => {
  const table: Array<[string, Requirement[]]> = [
    ['app=web', [req('app', 'In', ['web'])]],
    ['app==web', [req('app', 'In', ['web'])]],
    ['app!=web', [req('app', 'NotIn', ['web'])]],
    ['app in (web,api)', [req('app', 'In', ['web', 'api'])]],
    ['app notin (a,b)', [req('app', 'NotIn', ['a', 'b'])]],
    ['app', [req('app', 'Exists')]],
    ['!legacy', [req('legacy', 'DoesNotExist')]],
    ['app=web,tier!=db,!legacy,env', [req('app', 'In', ['web']), req('tier', 'NotIn', ['db']), req('legacy', 'DoesNotExist'), req('env', 'Exists')]],
    ['kubernetes.io/metadata.name=x', [req('kubernetes.io/metadata.name', 'In', ['x'])]],
    ['example.com/Team_x.y=A-b_c.9', [req('example.com/Team_x.y', 'In', ['A-b_c.9'])]],
    ['', []],
    ['   ', []],
    ['  app = web , env ', [req('app', 'In', ['web']), req('env', 'Exists')]],
    ['app in ( a , b ,c )', [req('app', 'In', ['a', 'b', 'c'])]],
    ['app=', [req('app', 'In', [''])]],
    ['app!=,x', [req('app', 'NotIn', ['']), req('x', 'Exists')]],
    ['app in ()', [req('app', 'In', [''])]],
    ['app in (a,)', [req('app', 'In', ['a', ''])]],
    ['in=notin', [req('in', 'In', ['notin'])]],
    ['x in (in,notin,allow)', [req('x', 'In', ['in', 'notin', 'allow'])]],
    ['ns=prod', [req('ns', 'In', ['prod'])]], // an ordinary label outside flows
    ['version=1.2.3', [req('version', 'In', ['1.2.3'])]],
  ];
  it.each(table)('%j', (text, requirements) => {
    expect(parseSelector(text)).toEqual({ selector: { requirements }, errors: [] });
  });
});

describe('parseSelector: invalid', () => {
  const table: Array<[string, string, number, number]> = [
    ['app=web,', 'expected a label requirement, found end of input', 8, 8],
    ['app in (a,b', "expected ')', found end of input", 11, 11],
    ['app in a', "expected '(', found 'a'", 7, 8],
    ['=web', "unexpected '='", 0, 1],
    ['!app=web', "unexpected '='", 4, 5],
    ['app=web=x', "unexpected '='", 7, 8],
    ['a/b/c=x', "unexpected '/'", 3, 4],
    ['app=a b', "unexpected 'b'", 6, 7],
    ['-app', "unexpected character '-'", 0, 1],
    ['app in (a,%%)', "unexpected characters '%%'", 10, 12],
    ['app=we$b', "unexpected character '$'", 6, 7],
    ['App_=x', "invalid label key 'App_'", 0, 4],
    ['Example.com/x', "invalid label key prefix 'Example.com'", 0, 11],
    [`app=${'v'.repeat(64)}`, `invalid label value '${'v'.repeat(64)}'`, 4, 68],
    [`${'k'.repeat(64)}`, `invalid label key '${'k'.repeat(64)}'`, 0, 64],
    ['a in (x,_y)', "invalid label value '_y'", 8, 10],
  ];
  it.each(table)('%j', (text, message, start, end) => {
    const result = parseSelector(text);
    expect(result.selector).toBeUndefined();
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0].message.startsWith(message)).toBe(true);
    expect(result.errors[0]).toMatchObject({ start, end });
  });

  it('reports every invalid name', () => {
    expect(parseSelector('_a=b,c=_d').errors.map((e) => [e.start, e.end])).toEqual([
      [0, 2],
      [7, 9],
    ]);
  });
});

describe('formatSelector', () => {
  it.each([
    ['app==web', 'app=web'],
    [' app in ( a ) , ! b ', 'app=a,!b'],
    ['app notin (a,b),c', 'app notin (a,b),c'],
    ['app in (,a,)', 'app in (,a,)'],
    ['', ''],
  ])('%j -> %j', (text, formatted) => {
    expect(formatSelector(parseSelector(text).selector!)).toBe(formatted);
  });

  const name = fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,6}[A-Za-z0-9])?$/);
  const key = fc.tuple(fc.option(fc.stringMatching(/^[a-z0-9]{1,5}(\.[a-z0-9]{1,5}){0,2}$/), { nil: undefined }), name)
    .map(([prefix, n]) => (prefix ? `${prefix}/${n}` : n));
  const value = fc.oneof(fc.constant(''), name);
  const requirement = fc.oneof(
    key.map((k) => req(k, 'Exists')),
    key.map((k) => req(k, 'DoesNotExist')),
    fc.tuple(key, fc.constantFrom<Requirement['operator']>('In', 'NotIn'), fc.array(value, { minLength: 1, maxLength: 4 }))
      .map(([k, op, vs]) => req(k, op, vs)),
  );

  it('round-trips generated selectors', () => {
    fc.assert(
      fc.property(fc.array(requirement, { maxLength: 5 }), (requirements) => {
        const text = formatSelector({ requirements });
        expect(parseSelector(text)).toEqual({ selector: { requirements }, errors: [] });
      }),
    );
  });
});
