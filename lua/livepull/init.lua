-- require "livepull": every failure raises a livepull error table.
return require("livepull.module")(false)
