package config

// pricing checks the [pricing."<prefix>"] tables.
func (v *validator) pricing(raw map[string]filePricing) map[string]PricingOverride {
	out := make(map[string]PricingOverride, len(raw))
	for prefix, p := range raw {
		o := PricingOverride{
			Input: rate(p.Input), Output: rate(p.Output), CachedInput: rate(p.CachedInput),
			CacheWrite5m: rate(p.CacheWrite5m), CacheWrite1h: rate(p.CacheWrite1h),
		}
		if prefix == "" {
			v.fail([]string{"pricing", prefix}, "a pricing table needs a model-name prefix")
		}
		if o.Input == nil || o.Output == nil {
			v.fail([]string{"pricing", prefix}, "needs both input and output (USD per 1M tokens); cached_input, cache_write_5m and cache_write_1h are optional")
		}
		out[prefix] = o
	}
	return out
}

func rate(r *tRate) *float64 {
	if r == nil {
		return nil
	}
	f := float64(*r)
	return &f
}
