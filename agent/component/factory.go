package component

// Config is a component's configuration: a pointer to a plain struct whose
// fields carry `prop:"name"` tags (see package config). A config may also
// implement Validator, BatchSizer or TxCapacity.
type Config any

// Validator is implemented by configs that check themselves after decoding.
type Validator interface {
	Validate() error
}

// BatchSizer is implemented by source and sink configs that move batches;
// the agent checks the size against the channel's transactionCapacity
// before anything starts.
type BatchSizer interface {
	BatchSize() int
}

// BatchSizeSetter is implemented by configs whose default batch size may
// be lowered to fit a channel's transactionCapacity when the user did not
// set one (a Flume file with a small transactionCapacity stays valid).
type BatchSizeSetter interface {
	SetBatchSize(n int)
}

// TxCapacity is implemented by channel configs that bound a transaction.
type TxCapacity interface {
	TransactionCapacity() int
}

// SourceFactory builds sources of one type.
type SourceFactory struct {
	Type      string
	Aliases   []string // Flume fully-qualified class names accepted too
	NewConfig func() Config
	Create    func(SourceSettings, Config) (Source, error)
}

// SinkFactory builds sinks of one type.
type SinkFactory struct {
	Type      string
	Aliases   []string
	NewConfig func() Config
	Create    func(SinkSettings, Config) (Sink, error)
}

// ChannelFactory builds channels of one type.
type ChannelFactory struct {
	Type      string
	Aliases   []string
	NewConfig func() Config
	Create    func(ChannelSettings, Config) (Channel, error)
}

// InterceptorFactory builds interceptors of one type.
type InterceptorFactory struct {
	Type      string
	Aliases   []string
	NewConfig func() Config
	Create    func(Settings, Config) (Interceptor, error)
}

// Factories is the catalog an agent can build from. Tests build agents with
// only the factories they need.
type Factories struct {
	Sources      map[string]SourceFactory
	Sinks        map[string]SinkFactory
	Channels     map[string]ChannelFactory
	Interceptors map[string]InterceptorFactory
}

// WithInterceptors returns f with the given interceptor factories added.
func (f Factories) WithInterceptors(list ...InterceptorFactory) Factories {
	m := make(map[string]InterceptorFactory, len(f.Interceptors)+len(list))
	for k, v := range f.Interceptors {
		m[k] = v
	}
	for _, i := range list {
		m[i.Type] = i
		for _, a := range i.Aliases {
			m[a] = i
		}
	}
	f.Interceptors = m
	return f
}

// NewFactories indexes the given factories by type and by alias.
func NewFactories(sources []SourceFactory, channels []ChannelFactory, sinks []SinkFactory) Factories {
	f := Factories{
		Sources:  map[string]SourceFactory{},
		Sinks:    map[string]SinkFactory{},
		Channels: map[string]ChannelFactory{},
	}
	for _, s := range sources {
		f.Sources[s.Type] = s
		for _, a := range s.Aliases {
			f.Sources[a] = s
		}
	}
	for _, c := range channels {
		f.Channels[c.Type] = c
		for _, a := range c.Aliases {
			f.Channels[a] = c
		}
	}
	for _, s := range sinks {
		f.Sinks[s.Type] = s
		for _, a := range s.Aliases {
			f.Sinks[a] = s
		}
	}
	return f
}
