// Preact's h() through htm's tagged templates: JSX-like markup with no build step.
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
