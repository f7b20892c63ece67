#compdef glsgn

_glsgn_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _GLSGN_COMPLETE=complete_zsh glsgn)
}

compdef _glsgn_completion glsgn