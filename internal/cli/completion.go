package cli

import (
	"github.com/spf13/cobra"
)

func newCompletionCmd(io IO) *cobra.Command {
	script := func(name, how string, gen func(cmd *cobra.Command) error) *cobra.Command {
		return &cobra.Command{
			Use: name, Short: "the completion script for " + name, Long: how, Args: noArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return gen(cmd.Root()) },
		}
	}
	out := io.Stdout
	return group("completion <shell>", "print a shell completion script (bash, zsh, fish, powershell)",
		script("bash", `
Prints the bash completion script (it needs the bash-completion package).
For this shell:   source <(mediapipe completion bash)
For every shell:  mediapipe completion bash > /etc/bash_completion.d/mediapipe`,
			func(root *cobra.Command) error { return root.GenBashCompletionV2(out, true) }),
		script("zsh", `
Prints the zsh completion script.
For this shell:   source <(mediapipe completion zsh)
For every shell:  mediapipe completion zsh > "${fpath[1]}/_mediapipe"
(with "autoload -U compinit; compinit" in ~/.zshrc)`,
			func(root *cobra.Command) error { return root.GenZshCompletion(out) }),
		script("fish", `
Prints the fish completion script.
For this shell:   mediapipe completion fish | source
For every shell:  mediapipe completion fish > ~/.config/fish/completions/mediapipe.fish`,
			func(root *cobra.Command) error { return root.GenFishCompletion(out, true) }),
		script("powershell", `
Prints the PowerShell completion script.
For this shell:   mediapipe completion powershell | Out-String | Invoke-Expression`,
			func(root *cobra.Command) error { return root.GenPowerShellCompletionWithDesc(out) }),
	)
}
