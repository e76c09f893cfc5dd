/**
 * A parsed YAML file that can say where any field is, and collects the
 * problems found in it (syntax, limits, schema) as YamlIssues with line and
 * column. The three YAML files the project reads use this one parser.
 *
 * Limits, because the files may come from anywhere (a ConfigMap, a path
 * swapped under a symlink): nesting deeper than MAX_DEPTH is refused before
 * the parser sees the text (the parser recurses per level and a few
 * thousand levels exhaust the stack, or the memory of its error printer);
 * aliases are expanded at most `maxAliasCount` times (a "billion laughs"
 * document is refused, not expanded).
 */
import { isAlias, isMap, isNode, isScalar, LineCounter, parseDocument, Scalar, visit, type Document } from 'yaml';
import type { z } from 'zod';
import { fieldPath, quote, type PathSegment, type YamlIssue } from './issues.js';

/** Nesting levels any of the project's files could need, with a wide margin. */
export const MAX_DEPTH = 64;
export const DEFAULT_MAX_ALIAS_COUNT = 100;

export interface YamlParseOptions {
  /** Keep integers exact as BigInt (task IDs above 2^53). */
  readonly intAsBigInt?: boolean;
  readonly maxAliasCount?: number;
  /** The keys allowed at `path`, to list after "unknown key". */
  readonly allowedKeys?: (path: readonly PathSegment[]) => readonly string[] | undefined;
}

/**
 * How deep `text` nests, measured lexically: indentation levels, block
 * sequence dashes on one line (`- - - x`), and open flow brackets. An
 * overestimate at worst (brackets inside quoted strings are skipped, those
 * in plain scalars are counted), which only matters past MAX_DEPTH.
 * Returns the 1-based line where MAX_DEPTH is first exceeded, or 0.
 */
export function lineTooDeep(text: string, maxDepth = MAX_DEPTH): number {
  const indents: number[] = [];
  let flow = 0;
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    // Start of a line: its indentation.
    let col = 0;
    while (i < n && text[i] === ' ') {
      i++;
      col++;
    }
    const blank = i >= n || text[i] === '\n' || text[i] === '\r' || text[i] === '#';
    let depth = indents.length;
    if (!blank && flow === 0) {
      while (indents.length > 0 && indents[indents.length - 1]! >= col) indents.pop();
      indents.push(col);
      depth = indents.length;
      // `- - - x` and `? ? x` nest without indentation.
      while (i + 1 < n && (text[i] === '-' || text[i] === '?') && text[i + 1] === ' ') {
        depth++;
        i += 2;
        while (i < n && text[i] === ' ') i++;
      }
    }
    if (depth + flow > maxDepth) return line;
    // Rest of the line: flow brackets outside quotes and comments.
    let quoteChar = '';
    for (; i < n && text[i] !== '\n'; i++) {
      const c = text[i]!;
      if (quoteChar) {
        if (c === '\\' && quoteChar === '"') i++;
        else if (c === quoteChar) quoteChar = '';
        continue;
      }
      if (c === '"' || c === "'") quoteChar = c;
      else if (c === '#' && (i === 0 || text[i - 1] === ' ' || text[i - 1] === '\t')) {
        while (i < n && text[i] !== '\n') i++;
        break;
      } else if (c === '[' || c === '{') {
        flow++;
        if (depth + flow > maxDepth) return line;
      } else if ((c === ']' || c === '}') && flow > 0) flow--;
    }
    i++; // the line feed
    line++;
  }
  return 0;
}

export class YamlFile {
  readonly issues: YamlIssue[] = [];

  private constructor(
    readonly file: string,
    private readonly doc: Document.Parsed | undefined,
    private readonly lines: LineCounter,
    private readonly opts: YamlParseOptions,
    private readonly text = '',
  ) {}

  /** Parses `text`; syntax errors and exceeded limits become issues (see `ok`). */
  static parse(text: string, file: string, opts: YamlParseOptions = {}): YamlFile {
    const lines = new LineCounter();
    const deep = lineTooDeep(text);
    if (deep > 0) {
      const f = new YamlFile(file, undefined, lines, opts);
      f.issues.push({ file, line: deep, column: 1, field: '', message: `nested more than ${MAX_DEPTH} levels deep` });
      return f;
    }
    let doc: Document.Parsed;
    try {
      doc = parseDocument(text, { lineCounter: lines, intAsBigInt: opts.intAsBigInt ?? false, uniqueKeys: true, prettyErrors: false });
    } catch (err) {
      // Not expected past the depth check; never let a parser failure escape as a crash.
      const f = new YamlFile(file, undefined, lines, opts);
      f.issues.push({ file, field: '', message: `cannot parse the YAML: ${(err as Error).name}` });
      return f;
    }
    const f = new YamlFile(file, doc, lines, opts, text);
    for (const e of doc.errors) {
      const pos = lines.linePos(e.pos[0]);
      // The parser's own message, first line only: later lines quote the file.
      f.issues.push({ file, line: pos.line, column: pos.col, field: '', message: `YAML syntax: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').slice(0, 160)}` });
    }
    return f;
  }

  get ok(): boolean {
    return this.issues.length === 0;
  }

  /** True when the document has no content at all (an empty file, or only comments). */
  get empty(): boolean {
    return this.doc !== undefined && (this.doc.contents === null || (isScalar(this.doc.contents) && this.doc.contents.value === null));
  }

  /**
   * The plain value of the document, aliases expanded within the limit; on
   * failure an issue is added and undefined returned.
   */
  toJS(): unknown {
    if (!this.doc || !this.ok) return undefined;
    const maxAliasCount = this.opts.maxAliasCount ?? DEFAULT_MAX_ALIAS_COUNT;
    try {
      return this.doc.toJS({ maxAliasCount });
    } catch (err) {
      let offset: number | undefined;
      visit(this.doc, {
        Alias(_key, node) {
          offset = node.range?.[0];
          return visit.BREAK;
        },
      });
      const pos = offset === undefined ? undefined : this.lines.linePos(offset);
      const message =
        err instanceof ReferenceError && /alias/i.test(err.message)
          ? `aliases expand too much (more than ${maxAliasCount} alias expansions); write the values out`
          : `cannot read the YAML: ${(err as Error).message.split('\n')[0]!.slice(0, 200)}`;
      this.issues.push({ file: this.file, ...(pos ? { line: pos.line, column: pos.col } : {}), field: '', message });
      return undefined;
    }
  }

  /**
   * The plain (unquoted) scalar at `path` as written in the file, aliases
   * followed; undefined when the value there is quoted, a collection or
   * absent. For values whose spelling matters (a bare `0x10` is read as 16).
   */
  plainSource(path: readonly PathSegment[]): string | undefined {
    if (!this.doc) return undefined;
    let node: unknown = this.doc.getIn(path, true);
    if (isAlias(node)) node = node.resolve(this.doc);
    if (!isScalar(node) || node.type !== Scalar.PLAIN || !node.range) return undefined;
    return this.text.slice(node.range[0], node.range[1]).trim();
  }

  /** Line and column of the node at `path`, or of its nearest existing ancestor. */
  position(path: readonly PathSegment[]): { line?: number; column?: number } {
    if (!this.doc) return {};
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) {
        const pos = this.lines.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return {};
  }

  /** Line and column of the key `key` of the mapping at `parent` (the key itself, not its value). */
  keyPosition(parent: readonly PathSegment[], key: string): { line?: number; column?: number } {
    const map = !this.doc ? undefined : parent.length === 0 ? this.doc.contents : this.doc.getIn(parent, true);
    if (isMap(map)) {
      for (const pair of map.items) {
        const k = pair.key;
        if (isScalar(k) && String(k.value) === key && k.range) {
          const pos = this.lines.linePos(k.range[0]);
          return { line: pos.line, column: pos.col };
        }
      }
    }
    return this.position(parent);
  }

  /** A problem with the value at `path`. */
  add(path: readonly PathSegment[], message: string): void {
    this.issues.push({ file: this.file, ...this.position(path), field: fieldPath(path), message });
  }

  /** A problem with the key `key` of the mapping at `parent`. */
  addKey(parent: readonly PathSegment[], key: string, message: string): void {
    this.issues.push({ file: this.file, ...this.keyPosition(parent, key), field: fieldPath([...parent, key]), message });
  }

  /** A problem of the whole file, at its start. */
  addFile(message: string): void {
    this.issues.push({ file: this.file, ...this.position([]), field: '', message });
  }

  /** zod's issues in this project's words, each at its place in the file. */
  addZod(issues: readonly z.ZodIssue[]): void {
    for (const issue of issues) {
      const path = issue.path;
      switch (issue.code) {
        case 'unrecognized_keys': {
          const allowed = this.opts.allowedKeys?.(path);
          for (const k of issue.keys) this.addKey(path, k, `unknown key ${quote(k)}${allowed ? `; allowed: ${allowed.join(', ')}` : ''}`);
          break;
        }
        case 'invalid_enum_value':
          this.add(path, `invalid value ${quote(issue.received)}; expected one of: ${issue.options.join(', ')}`);
          break;
        case 'invalid_type':
          // A schema's own message (invalid_type_error, required_error) is kept; zod's default is reworded.
          if (issue.message !== 'Required' && !/^Expected .*, received /.test(issue.message)) this.add(path, issue.message);
          else this.add(path, issue.received === 'undefined' ? 'is required' : `expected ${describeType(issue.expected)}, got ${describeType(issue.received)}`);
          break;
        default: {
          let message = issue.message;
          const related = issue.code === 'custom' ? (issue.params?.relatedPath as PathSegment[] | undefined) : undefined;
          if (related) {
            const at = this.position(related);
            if (at.line !== undefined) message += ` at line ${at.line}`;
          }
          this.add(path, message);
        }
      }
    }
  }

  /** Throws `make(issues)` when any problem was found. */
  throwIfIssues(make: (issues: readonly YamlIssue[]) => Error): void {
    if (this.issues.length > 0) throw make(this.issues);
  }
}

/** zod type names in YAML words. */
function describeType(t: string): string {
  if (t.includes(' | ')) return `one of: ${t.split(' | ').map((v) => v.replace(/^'(.*)'$/, '$1')).join(', ')}`;
  return ({ object: 'a mapping', array: 'a list', null: 'nothing (null)', undefined: 'nothing' } as Record<string, string>)[t] ?? `a ${t}`;
}
