// `@summit-config/core/templates`: generate new configs from parameterised templates (README "API",
// docs/templates.md).
export {
  type ConfigTemplate,
  type CreateFromTemplateOptions,
  createFromTemplate,
  loadTemplateFile,
  loadTemplates,
  parseTemplate,
  parseTemplateText,
  type RenderedTemplate,
  type RenderOptions,
  renderTemplate,
  TEMPLATE_NAME,
  type TemplateCreateResult,
  type TemplateDefinition,
} from './template.js';
