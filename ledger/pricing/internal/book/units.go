package book

import "sort"

// Unit is one billable unit of genai-prices' unit registry: what a provider
// reports (UsageKey), the key its price has in the data (PriceKey), how many
// counts one price covers (Per), and what it is (Dimensions). A unit whose
// dimensions include all of another's is that unit's descendant:
// cache_read_tokens is a kind of input_tokens, so pricing it apart takes
// those tokens out of input_tokens.
type Unit struct {
	UsageKey, PriceKey string
	Per                int64
	Dimensions         map[string]string
}

// Metered reports whether Conduit counts this unit for a call: tokens (the
// kinds it does not see apart count as their parent kind) and requests.
// Pages, hours, characters, pixels and tool calls are not metered.
func (u *Unit) Metered() bool {
	f := u.Dimensions["family"]
	return f == "tokens" || f == "requests"
}

// IsAncestorOf reports whether v is a kind of u (u's dimensions are a
// subset of v's), u itself included.
func (u *Unit) IsAncestorOf(v *Unit) bool {
	for k, val := range u.Dimensions {
		if v.Dimensions[k] != val {
			return false
		}
	}
	return true
}

// compatible reports whether u and v can describe the same counts (no
// dimension with different values), so their join must be priced too.
func compatible(u, v *Unit) bool {
	for k, val := range u.Dimensions {
		if w, ok := v.Dimensions[k]; ok && w != val {
			return false
		}
	}
	return true
}

// units is genai-prices' registry, prices/units.yml at the pinned version
// (https://github.com/pydantic/genai-prices/blob/main/prices/units.yml):
// the same 59 units in the package's bundle and in the file. A price key
// not listed here is a schema Conduit does not understand.
var units = []Unit{
	{"audio_seconds", "audio_hours", 3600, map[string]string{"family": "durations", "modality": "audio"}},
	{"cache_audio_read_tokens", "cache_audio_read_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "audio", "token_type": "cache_read"}},
	{"cache_audio_write_1h_tokens", "cache_audio_write_1h_mtok", 1000000, map[string]string{"cache_ttl": "1h", "direction": "input", "family": "tokens", "modality": "audio", "token_type": "cache_write"}},
	{"cache_audio_write_5m_tokens", "cache_audio_write_5m_mtok", 1000000, map[string]string{"cache_ttl": "5m", "direction": "input", "family": "tokens", "modality": "audio", "token_type": "cache_write"}},
	{"cache_audio_write_tokens", "cache_audio_write_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "audio", "token_type": "cache_write"}},
	{"cache_image_read_tokens", "cache_image_read_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "image", "token_type": "cache_read"}},
	{"cache_image_write_1h_tokens", "cache_image_write_1h_mtok", 1000000, map[string]string{"cache_ttl": "1h", "direction": "input", "family": "tokens", "modality": "image", "token_type": "cache_write"}},
	{"cache_image_write_5m_tokens", "cache_image_write_5m_mtok", 1000000, map[string]string{"cache_ttl": "5m", "direction": "input", "family": "tokens", "modality": "image", "token_type": "cache_write"}},
	{"cache_image_write_tokens", "cache_image_write_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "image", "token_type": "cache_write"}},
	{"cache_read_tokens", "cache_read_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "token_type": "cache_read"}},
	{"cache_text_read_tokens", "cache_text_read_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "text", "token_type": "cache_read"}},
	{"cache_text_write_1h_tokens", "cache_text_write_1h_mtok", 1000000, map[string]string{"cache_ttl": "1h", "direction": "input", "family": "tokens", "modality": "text", "token_type": "cache_write"}},
	{"cache_text_write_5m_tokens", "cache_text_write_5m_mtok", 1000000, map[string]string{"cache_ttl": "5m", "direction": "input", "family": "tokens", "modality": "text", "token_type": "cache_write"}},
	{"cache_text_write_tokens", "cache_text_write_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "text", "token_type": "cache_write"}},
	{"cache_video_read_tokens", "cache_video_read_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "video", "token_type": "cache_read"}},
	{"cache_video_write_1h_tokens", "cache_video_write_1h_mtok", 1000000, map[string]string{"cache_ttl": "1h", "direction": "input", "family": "tokens", "modality": "video", "token_type": "cache_write"}},
	{"cache_video_write_5m_tokens", "cache_video_write_5m_mtok", 1000000, map[string]string{"cache_ttl": "5m", "direction": "input", "family": "tokens", "modality": "video", "token_type": "cache_write"}},
	{"cache_video_write_tokens", "cache_video_write_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "video", "token_type": "cache_write"}},
	{"cache_write_1h_tokens", "cache_write_1h_mtok", 1000000, map[string]string{"cache_ttl": "1h", "direction": "input", "family": "tokens", "token_type": "cache_write"}},
	{"cache_write_5m_tokens", "cache_write_5m_mtok", 1000000, map[string]string{"cache_ttl": "5m", "direction": "input", "family": "tokens", "token_type": "cache_write"}},
	{"cache_write_tokens", "cache_write_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "token_type": "cache_write"}},
	{"code_executions", "code_executions_kcount", 1000, map[string]string{"family": "tool_calls", "tool_type": "code_execution"}},
	{"input_annotated_document_pages", "input_annotated_document_kpages", 1000, map[string]string{"direction": "input", "family": "document_pages", "page_type": "annotated"}},
	{"input_audio_seconds", "input_audio_hours", 3600, map[string]string{"direction": "input", "family": "durations", "modality": "audio"}},
	{"input_audio_tokens", "input_audio_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "audio"}},
	{"input_audio_tool_tokens", "input_audio_tool_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "audio", "token_type": "tool"}},
	{"input_characters", "input_mchars", 1000000, map[string]string{"direction": "input", "family": "characters"}},
	{"input_document_pages", "input_document_kpages", 1000, map[string]string{"direction": "input", "family": "document_pages"}},
	{"input_image_tokens", "input_image_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "image"}},
	{"input_image_tool_tokens", "input_image_tool_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "image", "token_type": "tool"}},
	{"input_pixels", "input_gpixels", 1000000000, map[string]string{"direction": "input", "family": "pixels"}},
	{"input_text_messages", "input_text_messages_kcount", 1000, map[string]string{"direction": "input", "family": "messages", "modality": "text"}},
	{"input_text_tokens", "input_text_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "text"}},
	{"input_text_tool_tokens", "input_text_tool_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "text", "token_type": "tool"}},
	{"input_tokens", "input_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens"}},
	{"input_tool_tokens", "input_tool_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "token_type": "tool"}},
	{"input_video_tokens", "input_video_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "video"}},
	{"input_video_tool_tokens", "input_video_tool_mtok", 1000000, map[string]string{"direction": "input", "family": "tokens", "modality": "video", "token_type": "tool"}},
	{"output_audio_citation_tokens", "output_audio_citation_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "modality": "audio", "token_type": "citation"}},
	{"output_audio_reasoning_tokens", "output_audio_reasoning_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "modality": "audio", "token_type": "reasoning"}},
	{"output_audio_seconds", "output_audio_hours", 3600, map[string]string{"direction": "output", "family": "durations", "modality": "audio"}},
	{"output_audio_tokens", "output_audio_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "modality": "audio"}},
	{"output_citation_tokens", "output_citation_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "token_type": "citation"}},
	{"output_image_citation_tokens", "output_image_citation_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "modality": "image", "token_type": "citation"}},
	{"output_image_reasoning_tokens", "output_image_reasoning_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "modality": "image", "token_type": "reasoning"}},
	{"output_image_tokens", "output_image_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "modality": "image"}},
	{"output_reasoning_tokens", "output_reasoning_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "token_type": "reasoning"}},
	{"output_text_citation_tokens", "output_text_citation_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "modality": "text", "token_type": "citation"}},
	{"output_text_reasoning_tokens", "output_text_reasoning_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "modality": "text", "token_type": "reasoning"}},
	{"output_text_tokens", "output_text_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "modality": "text"}},
	{"output_tokens", "output_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens"}},
	{"output_video_citation_tokens", "output_video_citation_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "modality": "video", "token_type": "citation"}},
	{"output_video_reasoning_tokens", "output_video_reasoning_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "modality": "video", "token_type": "reasoning"}},
	{"output_video_tokens", "output_video_mtok", 1000000, map[string]string{"direction": "output", "family": "tokens", "modality": "video"}},
	{"requests", "requests_kcount", 1000, map[string]string{"family": "requests"}},
	{"rerank_searches", "rerank_searches_kcount", 1000, map[string]string{"family": "rerank"}},
	{"social_searches", "social_searches_kcount", 1000, map[string]string{"family": "tool_calls", "tool_type": "social_search"}},
	{"storage_searches", "storage_searches_kcount", 1000, map[string]string{"family": "tool_calls", "tool_type": "storage_search"}},
	{"web_searches", "web_searches_kcount", 1000, map[string]string{"family": "tool_calls", "tool_type": "web_search"}},
}

var (
	unitsByPriceKey = map[string]*Unit{}
	unitsByDims     = map[string]*Unit{}
)

func init() {
	for i := range units {
		u := &units[i]
		unitsByPriceKey[u.PriceKey] = u
		unitsByDims[dimsKey(u.Dimensions)] = u
	}
}

// UnitForPriceKey returns the unit priced under key, nil for a key the
// registry does not have.
func UnitForPriceKey(key string) *Unit { return unitsByPriceKey[key] }

// join returns the unit with the union of u's and v's dimensions, nil if
// the registry has none.
func join(u, v *Unit) *Unit {
	d := make(map[string]string, len(u.Dimensions)+len(v.Dimensions))
	for k, val := range u.Dimensions {
		d[k] = val
	}
	for k, val := range v.Dimensions {
		d[k] = val
	}
	return unitsByDims[dimsKey(d)]
}

func dimsKey(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += k + "=" + d[k] + ";"
	}
	return s
}
