/**
 * systemd's D-Bus object paths of units, PURE: /org/freedesktop/systemd1/unit/<label>, where the
 * label keeps ASCII letters and digits (a digit only after the first character) and writes every
 * other byte as _xx (two lower-case hex digits), as systemd's bus_label_escape does.
 */

export const UNIT_PATH_PREFIX = '/org/freedesktop/systemd1/unit/';

export function escapeBusLabel(s: string): string {
  if (s.length === 0) return '_';
  let out = '';
  const bytes = Buffer.from(s, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    const digit = c >= 0x30 && c <= 0x39;
    if (alpha || (digit && i > 0)) out += String.fromCharCode(c);
    else out += `_${c.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The inverse; undefined when the label is not one escapeBusLabel makes. */
export function unescapeBusLabel(label: string): string | undefined {
  if (label === '_') return '';
  const bytes: number[] = [];
  for (let i = 0; i < label.length; i++) {
    const ch = label[i]!;
    if (ch === '_') {
      const hex = label.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (/[A-Za-z0-9]/.test(ch)) {
      bytes.push(ch.charCodeAt(0));
    } else {
      return undefined;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export function unitObjectPath(unit: string): string {
  return UNIT_PATH_PREFIX + escapeBusLabel(unit);
}

/** The unit a unit object path names, or undefined for another path. */
export function unitOfObjectPath(path: string): string | undefined {
  if (!path.startsWith(UNIT_PATH_PREFIX)) return undefined;
  return unescapeBusLabel(path.slice(UNIT_PATH_PREFIX.length));
}
