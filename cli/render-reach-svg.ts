// The reachability matrix as a picture: green cells connect, red are blocked, pods grouped
// by namespace with a band per namespace on both axes.

import type { ReachMatrix } from '../compiler/evaluate/reach.js';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function renderReachSvg(m: ReachMatrix, title: string): string {
  const cell = 22;
  const label = Math.max(60, ...m.pods.map((p) => p.length * 7 + 16));
  const n = m.pods.length;
  const top = label + 40;
  const left = label + 20;
  const titleText = `reachability ${title}: rows = from, columns = to`;
  // Rotated column labels lean right by about half their length.
  const width = Math.max(left + n * cell + Math.ceil(label * 0.55) + 20, titleText.length * 8 + 16);
  const height = top + n * cell + 40;
  const namespaces = m.pods.map((p) => p.split('/')[0]);
  const bands: string[] = [];
  const separators: string[] = [];
  let bandIndex = 0;
  let start = 0;
  for (let i = 1; i <= n; i++) {
    if (i === n || namespaces[i] !== namespaces[start]) {
      const shade = bandIndex++ % 2 === 0 ? '#dbe4ef' : '#f8fafc';
      bands.push(`<rect x="0" y="${top + start * cell}" width="${left}" height="${(i - start) * cell}" fill="${shade}"/>`);
      bands.push(`<rect x="${left + start * cell}" y="20" width="${(i - start) * cell}" height="${top - 20}" fill="${shade}"/>`);
      if (start > 0) {
        separators.push(`<line x1="${left + start * cell - 0.5}" y1="${top}" x2="${left + start * cell - 0.5}" y2="${top + n * cell}" stroke="#0f172a" stroke-width="2"/>`);
        separators.push(`<line x1="${left}" y1="${top + start * cell - 0.5}" x2="${left + n * cell}" y2="${top + start * cell - 0.5}" stroke="#0f172a" stroke-width="2"/>`);
      }
      start = i;
    }
  }
  const labels = m.pods.map((p, i) => [
    `<text x="${left - 6}" y="${top + i * cell + cell * 0.7}" text-anchor="end">${esc(p)}</text>`,
    `<text transform="translate(${left + i * cell + cell * 0.7},${top - 6}) rotate(-60)">${esc(p)}</text>`,
  ].join(''));
  const cells = m.allowed.flatMap((row, i) =>
    row.map((ok, j) => `<rect x="${left + j * cell}" y="${top + i * cell}" width="${cell - 1}" height="${cell - 1}" fill="${ok ? '#22c55e' : '#ef4444'}"><title>${esc(m.pods[i])} -> ${esc(m.pods[j])}: ${ok ? 'allowed' : 'blocked'}</title></rect>`),
  );
  const allowed = m.allowed.flat().filter(Boolean).length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...bands,
    `<text x="8" y="14" font-size="13" font-weight="bold">${esc(titleText)}</text>`,
    `<text x="8" y="30">${allowed} of ${n * n} pairs allowed</text>`,
    ...labels,
    ...cells,
    ...separators,
    `<g transform="translate(${left},${top + n * cell + 14})"><rect width="12" height="12" fill="#22c55e"/><text x="16" y="10">allowed</text><rect x="80" width="12" height="12" fill="#ef4444"/><text x="96" y="10">blocked</text></g>`,
    `</svg>`,
    '',
  ].join('\n');
}
