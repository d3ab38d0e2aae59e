/** Text made safe to place in HTML, between tags or inside a quoted attribute: the pages the API renders itself. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
