package fakeprovider

import (
	"net/http"
	"strings"
)

// DefaultAzureModel is the model an Azure OpenAI response reports for a
// deployment Options.Deployments does not map: Azure names the model
// behind a deployment, not the deployment.
const DefaultAzureModel = "gpt-4o-2024-08-06"

// azureDeployment is the deployment an Azure OpenAI request addresses: the
// {name} of …/openai/deployments/{name}/…, or, on the /openai/v1/ paths and
// with an api-version, the body's model (which names a deployment there).
// ok is false for requests that are not Azure's.
func azureDeployment(r *http.Request, model string) (name string, ok bool) {
	if _, rest, found := strings.Cut(r.URL.Path, "/openai/deployments/"); found {
		name, _, _ = strings.Cut(rest, "/")
		return name, true
	}
	if r.URL.Query().Get("api-version") != "" || r.Header.Get("Api-Key") != "" && strings.Contains(r.URL.Path, "/openai/") {
		return model, true
	}
	return "", false
}

// applyAzure makes an Azure request's response name the deployment's model
// (HeaderModel still wins) and carry Azure's content-filter results.
func (p *plan) applyAzure(r *http.Request, o *Options) {
	d, ok := azureDeployment(r, p.req.str("model"))
	if !ok || p.ep.provider != providerOpenAI {
		return
	}
	p.azure = true
	if p.k.model != "" {
		return
	}
	p.respModel = DefaultAzureModel
	if m, ok := o.Deployments[d]; ok {
		p.respModel = m
	}
}

// azureFilter is one content-filter verdict.
type azureFilter struct {
	Filtered bool   `json:"filtered"`
	Severity string `json:"severity"`
}

// azurePromptFilter is one prompt_filter_results entry, all categories safe.
type azurePromptFilter struct {
	PromptIndex          int                    `json:"prompt_index"`
	ContentFilterResults map[string]azureFilter `json:"content_filter_results"`
}

func azurePromptFilters() []azurePromptFilter {
	safe := azureFilter{Severity: "safe"}
	return []azurePromptFilter{{ContentFilterResults: map[string]azureFilter{
		"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe,
	}}}
}

// azureFirstChunk is the chunk Azure streams before any other: empty
// choices, empty id and model, and the prompt's filter results.
type azureFirstChunk struct {
	Choices             []any               `json:"choices"`
	Created             int                 `json:"created"`
	ID                  string              `json:"id"`
	Model               string              `json:"model"`
	Object              string              `json:"object"`
	PromptFilterResults []azurePromptFilter `json:"prompt_filter_results"`
}
