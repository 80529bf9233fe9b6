export {
  PLACEHOLDERS,
  MODES,
  parseCommandTemplate,
  fillCommand,
  fillTextTemplate,
  placeholderValues,
  isCanonicalAddressText,
  type Placeholder,
  type Mode,
  type ParsedAddressLike,
  type TemplateValues,
  type CommandTemplate,
  type FilledCommand,
} from './template.js';
export { runCommand, runFilled, type RunOptions, type RunResult } from './run.js';
