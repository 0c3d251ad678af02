-- require "livepull.safe": the same API; returns nil, err where livepull raises err.
return require("livepull.module")(true)
