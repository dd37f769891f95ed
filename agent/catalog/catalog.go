package catalog

import (
	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/forward"
	"github.com/vscope/vscope/agent/interceptor"
	"github.com/vscope/vscope/agent/jetstream"
	"github.com/vscope/vscope/agent/sink"
	"github.com/vscope/vscope/agent/source"
)

// Default returns the factories of every built-in type.
func Default() component.Factories {
	return component.NewFactories(
		[]component.SourceFactory{
			source.SeqFactory(),
			source.NetcatFactory(),
			source.HTTPFactory(),
			source.ExecFactory(),
			source.SpoolDirFactory(),
			source.TaildirFactory(),
			source.NetcatUDPFactory(),
			source.SyslogTCPFactory(),
			source.SyslogUDPFactory(),
			source.MultiportSyslogTCPFactory(),
			forward.SourceFactory(),
			jetstream.SourceFactory(),
		},
		[]component.ChannelFactory{
			channel.MemoryFactory(),
			channel.FileFactory(),
			jetstream.ChannelFactory(),
		},
		[]component.SinkFactory{
			sink.NullFactory(),
			sink.LoggerFactory(),
			sink.RollFactory(),
			sink.ParquetFactory(),
			forward.SinkFactory(),
			jetstream.SinkFactory(),
		},
	).WithInterceptors(interceptor.All()...)
}
