// dom.js: builds DOM nodes without HTML strings. Every text goes in as a
// text node, so nothing a device sends (group ids, gas names) can become
// markup.

// h('a', {href: '#/', class: 'x', onclick: fn}, 'text', child, [more]):
// attributes (null/false skipped, true as ""), `on*` listeners, `dataset`.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

const SVGNS = 'http://www.w3.org/2000/svg';

// The same for SVG elements.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVGNS, tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// Sets el's text only when it changes (live updates touch many nodes).
export function setText(el, text) {
  const v = String(text);
  if (el.textContent !== v) el.textContent = v;
}
